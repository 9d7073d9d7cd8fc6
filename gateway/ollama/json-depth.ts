// How deep a parsed JSON value nests, for the Ollama routes: their bodies are parsed, translated
// and written out again (JSON.stringify recurses, and overflows Node's stack a few thousand levels
// down), so a body nested too deeply is refused up front with a 400. A model server could not read
// it either: Python's json module stops at its recursion limit (1000).

/** Objects and arrays nested deeper than this are refused. */
export const MAX_JSON_DEPTH = 1000;

/** Whether `value` nests objects and arrays more than `max` levels deep (iterative: any depth). */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<{ v: object; depth: number }> = [];
  if (value !== null && typeof value === 'object') stack.push({ v: value, depth: 1 });
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (depth > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push({ v: child as object, depth: depth + 1 });
    }
  }
  return false;
}
