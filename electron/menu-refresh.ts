// When to rebuild a menu that is rebuilt from each status document (4 a second under load). A menu
// replaced while it is open flickers or closes, so: never while open; a change to what can be
// clicked (ids, enabled, checked) at once; a change of labels only (counts under load) at most every
// `minIntervalMs`; the same content never. Pure, with an injected clock.
export interface MenuShape {
  id?: string;
  label?: string;
  type?: string;
  enabled?: boolean;
  checked?: boolean;
  submenu?: MenuShape[];
}

export type RefreshDecision = 'apply' | 'same' | 'defer';

function structure(items: readonly MenuShape[]): unknown[] {
  return items.map((i) => [i.id ?? '', i.type ?? '', i.enabled ?? true, i.checked ?? false, i.submenu ? structure(i.submenu) : null]);
}

export class MenuRefreshGate {
  private lastContent = '';
  private lastStructure = '';
  private lastAt = Number.NEGATIVE_INFINITY;
  private open = false;

  constructor(
    private readonly minIntervalMs: number,
    private readonly now: () => number,
  ) {}

  offer(items: readonly MenuShape[]): RefreshDecision {
    const content = JSON.stringify(items);
    if (content === this.lastContent) return 'same';
    if (this.open) return 'defer';
    const shape = JSON.stringify(structure(items));
    if (shape === this.lastStructure && this.now() - this.lastAt < this.minIntervalMs) return 'defer';
    this.lastContent = content;
    this.lastStructure = shape;
    this.lastAt = this.now();
    return 'apply';
  }

  menuOpened(): void {
    this.open = true;
  }

  menuClosed(): void {
    this.open = false;
  }
}
