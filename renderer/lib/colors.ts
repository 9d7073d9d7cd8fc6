// A stable colour per model id: the same id gets the same colour in every bar, legend, card and
// table row, across reloads. Each id starts from a hash of itself; ids whose colour is already
// taken (in sorted order) move on to the next free one, so the models of one config never share
// a colour while there are enough. Colours are CSS custom properties defined for light and dark.
import { createContext, useContext } from 'react';

export const MODEL_PALETTE_SIZE = 10;

/** FNV-1a, 32 bit. */
export function hashId(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Palette index per id: hash first, then linear probing, in sorted id order (so it is stable). */
export function assignModelColors(ids: Iterable<string>): Map<string, number> {
  const out = new Map<string, number>();
  const taken = new Set<number>();
  for (const id of [...new Set(ids)].sort()) {
    let i = hashId(id) % MODEL_PALETTE_SIZE;
    for (let step = 0; step < MODEL_PALETTE_SIZE && taken.has(i); step++) i = (i + 1) % MODEL_PALETTE_SIZE;
    out.set(id, i);
    taken.add(i);
    if (taken.size === MODEL_PALETTE_SIZE) taken.clear();
  }
  return out;
}

export type ColorOf = (id: string) => string;

export function colorFunction(assigned: Map<string, number>): ColorOf {
  return (id) => `var(--model-${assigned.get(id) ?? hashId(id) % MODEL_PALETTE_SIZE})`;
}

export const ModelColors = createContext<ColorOf>(colorFunction(new Map()));

export function useModelColor(): ColorOf {
  return useContext(ModelColors);
}
