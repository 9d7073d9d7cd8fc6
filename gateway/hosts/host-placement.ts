// Placement across hosts (pure; docs/hosts.md "Placement"): host, then GPU. A model never spans
// hosts. Its hosts are tried in its order of preference, each with the single-host placement of
// gateway/scheduler/placement.ts over that host's GPUs only:
//  1. the first host where it fits without displacing anything;
//  2. else the best plan of any host by the same ranking as on one host (fit with the fewest
//     models displaced, then yield, then wait), a tie going to the preferred host;
//  3. when it fits on no host that is there now but one of its hosts is away (no GPUs known:
//     unreachable, or not probed yet), it waits for that host (the queue timeout bounds the wait);
//  4. else impossible (the reasons of each host are joined).
// Explicit `gpus` are indices on the chosen host.

import { planPlacement, type PlacedModel, type PlacementGpu, type PlacementPlan, type PlacementRequest } from '../scheduler/placement.js';
import type { HostGpuIds } from './host-gpus.js';

const RANK: Record<PlacementPlan['kind'], number> = { fit: 0, yield: 1, wait: 2, impossible: 3 };
const displaced = (p: PlacementPlan) => (p.kind === 'fit' || p.kind === 'yield' ? p.evict.length + (p.sleep?.length ?? 0) : 0);

export function planOnHosts(
  ids: HostGpuIds,
  hosts: readonly string[],
  gpus: readonly PlacementGpu[],
  reserveMiB: number,
  placed: readonly PlacedModel[],
  req: PlacementRequest,
  now = 0,
  hostRamBudgetMiB = Infinity,
): PlacementPlan {
  const plans: Array<{ host: string; plan: PlacementPlan }> = [];
  const away: string[] = [];
  for (const host of hosts) {
    const mine = gpus.filter((g) => ids.hostOf(g.index) === host);
    if (mine.length === 0) {
      away.push(host);
      plans.push({ host, plan: { kind: 'impossible', reason: `host ${host} has no GPU known now` } });
      continue;
    }
    const onHost: PlacementRequest = req.gpus === 'auto' ? req : { ...req, gpus: req.gpus.map((i) => ids.id(host, i)) };
    const plan = planPlacement(mine, reserveMiB, placed, onHost, now, hostRamBudgetMiB);
    if (plan.kind === 'fit' && displaced(plan) === 0) return plan;
    plans.push({ host, plan });
  }
  if (plans.length === 0) return { kind: 'impossible', reason: 'the model may run on no host' };
  const best = plans
    .map((p, i) => ({ ...p, i }))
    .sort(
      (a, b) =>
        RANK[a.plan.kind] - RANK[b.plan.kind] ||
        (a.plan.kind === 'yield' && b.plan.kind === 'yield' ? a.plan.yield.length - b.plan.yield.length : 0) ||
        displaced(a.plan) - displaced(b.plan) ||
        a.i - b.i,
    )[0];
  if (best.plan.kind !== 'impossible') return best.plan;
  if (away.length > 0) return { kind: 'wait', gpuIndices: [], reason: `host ${away.join(', ')} is unreachable` };
  if (plans.length === 1) return best.plan;
  return {
    kind: 'impossible',
    reason: plans.map((p) => `${p.host}: ${p.plan.kind === 'impossible' ? p.plan.reason : p.plan.kind}`).join('; '),
  };
}
