// Small inline SVG icons (inline SVG is allowed by the CSP; no icon fonts, no CDNs).
import type { ReactElement, SVGProps } from 'react';

type P = SVGProps<SVGSVGElement>;
const base = (p: P): P => ({
  width: 16,
  height: 16,
  viewBox: '0 0 24 24',
  fill: 'none',
  stroke: 'currentColor',
  strokeWidth: 2,
  strokeLinecap: 'round',
  strokeLinejoin: 'round',
  'aria-hidden': true,
  focusable: false,
  ...p,
});

export const CopyIcon = (p: P): ReactElement => (
  <svg {...base(p)}>
    <rect x="9" y="9" width="12" height="12" rx="2" />
    <path d="M5 15H4a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1h10a1 1 0 0 1 1 1v1" />
  </svg>
);
export const CheckIcon = (p: P): ReactElement => (
  <svg {...base(p)}>
    <path d="M20 6 9 17l-5-5" />
  </svg>
);
export const PlayIcon = (p: P): ReactElement => (
  <svg {...base(p)}>
    <path d="M7 4.5v15l12-7.5z" />
  </svg>
);
export const StopIcon = (p: P): ReactElement => (
  <svg {...base(p)}>
    <rect x="6" y="6" width="12" height="12" rx="2" />
  </svg>
);
export const MoonIcon = (p: P): ReactElement => (
  <svg {...base(p)}>
    <path d="M20 14.5A8 8 0 1 1 9.5 4a6.5 6.5 0 0 0 10.5 10.5z" />
  </svg>
);
export const LogsIcon = (p: P): ReactElement => (
  <svg {...base(p)}>
    <path d="M4 6h16M4 12h16M4 18h10" />
  </svg>
);
export const CloseIcon = (p: P): ReactElement => (
  <svg {...base(p)}>
    <path d="M18 6 6 18M6 6l12 12" />
  </svg>
);
export const RefreshIcon = (p: P): ReactElement => (
  <svg {...base(p)}>
    <path d="M21 12a9 9 0 1 1-2.64-6.36" />
    <path d="M21 3v6h-6" />
  </svg>
);
export const LockIcon = (p: P): ReactElement => (
  <svg {...base(p)}>
    <rect x="4" y="11" width="16" height="10" rx="2" />
    <path d="M8 11V7a4 4 0 0 1 8 0v4" />
  </svg>
);
export const ExternalIcon = (p: P): ReactElement => (
  <svg {...base(p)}>
    <path d="M14 4h6v6M20 4l-9 9" />
    <path d="M18 14v5a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1h5" />
  </svg>
);
export const AlertIcon = (p: P): ReactElement => (
  <svg {...base(p)}>
    <circle cx="12" cy="12" r="9" />
    <path d="M12 7.5v5M12 16.2v.3" />
  </svg>
);
export const PinIcon = (p: P): ReactElement => (
  <svg {...base(p)}>
    <path d="M9 4h6l-1 6 3 3H7l3-3zM12 13v7" />
  </svg>
);

export const LogoMark = (p: P): ReactElement => (
  <svg width={22} height={22} viewBox="0 0 32 32" aria-hidden focusable={false} {...p}>
    <rect x="1" y="1" width="30" height="30" rx="8" fill="var(--brand)" />
    <rect x="8" y="8.5" width="16" height="3.4" rx="1.7" fill="#fff" opacity="0.95" />
    <rect x="8" y="14.3" width="11" height="3.4" rx="1.7" fill="#fff" opacity="0.8" />
    <rect x="8" y="20.1" width="6" height="3.4" rx="1.7" fill="#fff" opacity="0.65" />
  </svg>
);
