// `hosts:` (docs/hosts.md): remote machines' Docker engines, and a docker model's `hosts` list.
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../gateway/config/load-config.js';
import type { DockerModelConfig, GatewayConfig } from '../../gateway/config/types.js';

const ENV = { HOME: '/home/tester', USER: 'tester' };

function ok(text: string): GatewayConfig {
  const { config, issues } = parseConfigText(text, 'test.yaml', ENV);
  expect(issues).toEqual([]);
  return config!;
}

function issues(text: string): string[] {
  const r = parseConfigText(text, 'test.yaml', ENV);
  expect(r.config).toBeNull();
  return r.issues.map((i) => `${i.path}: ${i.message}`);
}

const MODEL = 'models:\n  m: { runtime: docker, image: img, model: org/m, vramGiB: 8 }\n';

describe('config: hosts', () => {
  it('defaults to no remote hosts; a model without `hosts` may run anywhere', () => {
    const c = ok(MODEL);
    expect(c.hosts).toEqual([]);
    expect((c.models[0] as DockerModelConfig).hosts).toBeUndefined();
  });

  it('reads ssh and tcp hosts in file order, with defaults and ~ expanded', () => {
    const c = ok(`
hosts:
  gpu-a:
    docker: ssh://root@10.0.0.5
  gpu-b:
    docker: ssh://10.0.0.6:2222
    sshKeyPath: ~/.ssh/lab
    knownHostsPath: ~/lab_known_hosts
    gpu: { probe: static, static: [{ name: "NVIDIA L40S", totalGiB: 48 }] }
  box.c:
    docker: tcp://10.0.0.7:2376
    tls: { ca: ~/certs/ca.pem, cert: ~/certs/cert.pem, key: ~/certs/key.pem }
    gpu: { probe: static, static: [{ name: "NVIDIA A100", totalGiB: 40 }] }
models:
  m: { runtime: docker, image: img, model: org/m, vramGiB: 8, hosts: [gpu-b, local] }
`);
    expect(c.hosts).toEqual([
      {
        name: 'gpu-a',
        docker: 'ssh://root@10.0.0.5',
        target: { kind: 'ssh', user: 'root', host: '10.0.0.5', port: 22 },
        tls: null,
        sshKeyPath: null,
        knownHostsPath: null,
        gpu: { probe: 'nvidia-smi', nvidiaSmiPath: 'nvidia-smi', static: [] },
      },
      {
        name: 'gpu-b',
        docker: 'ssh://10.0.0.6:2222',
        target: { kind: 'ssh', user: 'tester', host: '10.0.0.6', port: 2222 },
        tls: null,
        sshKeyPath: '/home/tester/.ssh/lab',
        knownHostsPath: '/home/tester/lab_known_hosts',
        gpu: { probe: 'static', nvidiaSmiPath: 'nvidia-smi', static: [{ name: 'NVIDIA L40S', totalGiB: 48 }] },
      },
      {
        name: 'box.c',
        docker: 'tcp://10.0.0.7:2376',
        target: { kind: 'tcp', host: '10.0.0.7', port: 2376 },
        tls: { ca: '/home/tester/certs/ca.pem', cert: '/home/tester/certs/cert.pem', key: '/home/tester/certs/key.pem' },
        sshKeyPath: null,
        knownHostsPath: null,
        gpu: { probe: 'static', nvidiaSmiPath: 'nvidia-smi', static: [{ name: 'NVIDIA A100', totalGiB: 40 }] },
      },
    ]);
    expect((c.models[0] as DockerModelConfig).hosts).toEqual(['gpu-b', 'local']);
  });

  it('says what is wrong with a host, each at its place', () => {
    const found = issues(`
hosts:
  local: { docker: ssh://root@10.0.0.5 }
  Big_Box: { docker: ssh://root@10.0.0.5 }
  a: { docker: unix:///var/run/docker.sock }
  b: { docker: tcp://10.0.0.7:2376 }
  c: { docker: ssh://root@10.0.0.8, tls: { ca: a, cert: b, key: c } }
  d: { docker: "ssh://root:pw@10.0.0.9" }
  e: { docker: tcp://10.0.0.7, tls: { ca: a, cert: b, key: c } }
  f: { docker: ssh://root@10.0.0.5, gpu: { probe: static } }
  g: { docker: ssh://root@10.0.0.5, sshkeypath: x }
  h: { docker: tcp://10.0.0.7:2376, tls: { ca: a, cert: b, key: c }, sshKeyPath: k }
models:
  m: { runtime: docker, image: img, model: org/m, vramGiB: 8, hosts: [a, nowhere] }
  p: { runtime: process, command: [vllm], vramGiB: 8, hosts: [local] }
`);
    const want: Array<[string, RegExp]> = [
      ['hosts.local', /"local" is this machine/],
      ['hosts.Big_Box', /host names are 1-63 lower-case/],
      ['hosts.a.docker', /the scheme must be ssh:\/\/ or tcp:\/\//],
      ['hosts.b.tls', /a tcp:\/\/ engine needs `tls: \{ ca, cert, key \}`/],
      ['hosts.b.gpu.probe', /a tcp:\/\/ host cannot run nvidia-smi/],
      ['hosts.c.tls', /only for tcp:\/\/ hosts/],
      ['hosts.d.docker', /put no password in the URL/],
      ['hosts.e.docker', /give the engine's port/],
      ['hosts.f.gpu.static', /list the host's GPUs/],
      ['hosts.g.sshkeypath', /did you mean "sshKeyPath"/],
      ['hosts.h.sshKeyPath', /only for ssh:\/\/ hosts/],
      ['models.m.hosts.1', /no host named "nowhere": the hosts are "local", .*"a"/],
      ['models.p.hosts', /not allowed for runtime "process" \(only for docker models\)/],
    ];
    for (const [path, message] of want) {
      expect(
        found.some((f) => f.startsWith(`${path}: `) && message.test(f)),
        `${path} ${message} in\n${found.join('\n')}`,
      ).toBe(true);
    }
  });

  it('refuses an empty or repeated `hosts` list on a model', () => {
    expect(
      issues(`hosts: { a: { docker: ssh://r@h } }\nmodels:\n  m: { runtime: docker, image: i, model: o/m, vramGiB: 1, hosts: [] }\n`),
    ).toEqual([expect.stringMatching(/^models\.m\.hosts: must list at least one host/)]);
    expect(
      issues(`hosts: { a: { docker: ssh://r@h } }\nmodels:\n  m: { runtime: docker, image: i, model: o/m, vramGiB: 1, hosts: [a, a] }\n`),
    ).toEqual([expect.stringMatching(/^models\.m\.hosts: host names must be distinct/)]);
  });
});
