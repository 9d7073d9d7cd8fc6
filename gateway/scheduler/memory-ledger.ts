// GPU memory still on its way out (pure: no I/O, no clock; callers pass `now`). nvidia-smi stops
// listing a process as soon as it exits, but counts its memory as used until the driver has freed
// it (0.2–0.3 s, longer under load). Until then that memory must not be taken for another
// process's: a start right after an eviction would evict more than it needs, or fail with
// insufficient_vram. The ledger remembers, per GPU, what stopped servers last held there, and the
// PIDs they had, for a few seconds.

/** How long a stopped server's PIDs and memory are still expected on the GPU. */
export const RELEASING_MS = 15_000;

interface Releasing {
  /** Memory the stopped servers last measured on this GPU. */
  mib: number;
  /** Other processes' memory on this GPU when the first of them stopped. */
  otherBefore: number;
  /** When the last of them stopped. */
  at: number;
}

export class MemoryLedger {
  private readonly perGpu = new Map<number, Releasing>();
  private readonly pids = new Map<number, number>();

  /**
   * A server stopped at `now`. `held`: per GPU, what it last measured there and what placement
   * counted as other processes' memory at that moment; `pids`: its host PIDs.
   */
  noteStopped(held: ReadonlyArray<{ gpu: number; heldMiB: number; otherMiB: number }>, pids: Iterable<number>, now: number): void {
    for (const h of held) {
      if (h.heldMiB <= 0) continue;
      const r = this.perGpu.get(h.gpu);
      this.perGpu.set(h.gpu, { mib: (r?.mib ?? 0) + h.heldMiB, otherBefore: r?.otherBefore ?? h.otherMiB, at: now });
    }
    for (const pid of pids) this.pids.set(pid, now);
  }

  /**
   * Memory of processes the gateway does not manage on `gpu`, for placement, given what the
   * attribution measured as other (`measuredOther`) in a reading taken at `snapshotAt`.
   * Unattributed memory that grew since a server stopped, up to what that server held, is its
   * memory not yet freed, not another process's. Once a reading taken after the stop shows other
   * memory back to its level (or RELEASING_MS passed), the record is done.
   */
  otherMiB(gpu: number, measuredOther: number, snapshotAt: number, now: number): number {
    const r = this.perGpu.get(gpu);
    if (!r) return measuredOther;
    if (now - r.at > RELEASING_MS || (snapshotAt > r.at && measuredOther <= r.otherBefore)) {
      this.perGpu.delete(gpu);
      return measuredOther;
    }
    return Math.max(r.otherBefore, measuredOther - r.mib);
  }

  /** PIDs of servers stopped in the last RELEASING_MS (attribution counts them as nobody's other). */
  releasingPids(now: number): Set<number> {
    const cutoff = now - RELEASING_MS;
    for (const [pid, at] of this.pids) if (at < cutoff) this.pids.delete(pid);
    return new Set(this.pids.keys());
  }
}
