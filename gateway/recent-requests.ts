// The last N proxied requests for the status document, newest first. A ring: recording one costs
// a store, where unshift-then-truncate on an array moved and reallocated its elements every time.

export class RecentRing<T> {
  private readonly items: Array<T | undefined>;
  private next = 0;
  private size = 0;

  constructor(private readonly capacity: number) {
    this.items = new Array<T | undefined>(capacity);
  }

  add(item: T): void {
    if (this.capacity === 0) return;
    this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
  }

  /** Newest first. */
  list(): T[] {
    const out: T[] = [];
    for (let i = 1; i <= this.size; i++) out.push(this.items[(this.next - i + this.capacity) % this.capacity] as T);
    return out;
  }
}
