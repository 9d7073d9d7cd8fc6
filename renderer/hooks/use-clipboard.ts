import { useCallback, useEffect, useRef, useState } from 'react';

/** Copies text; `copied` is true for a moment afterwards (for a "Copied" label). */
export function useClipboard(resetMs = 1600): {
  copied: boolean;
  failed: boolean;
  copy: (text: string) => Promise<void>;
} {
  const [copied, setCopied] = useState(false);
  const [failed, setFailed] = useState(false);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  const copy = useCallback(
    async (text: string) => {
      clearTimeout(timer.current);
      try {
        await navigator.clipboard.writeText(text);
        setCopied(true);
        setFailed(false);
      } catch {
        setFailed(true);
        setCopied(false);
      }
      timer.current = setTimeout(() => {
        setCopied(false);
        setFailed(false);
      }, resetMs);
    },
    [resetMs],
  );
  return { copied, failed, copy };
}
