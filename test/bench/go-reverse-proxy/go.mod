module vllm-gateway/bench/go-reverse-proxy

go 1.19
