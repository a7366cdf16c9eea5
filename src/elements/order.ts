// Deterministic element order: dependencies before dependants, ties by name, cycles grouped.
import { compareBytes } from './element.js';
import type { ResolvedElement } from './resolve.js';

/**
 * Order the resolved set. Edges follow element-deps (a virtual name stands for its provider).
 * Strongly connected components (cycles) are emitted together, members sorted by name; among
 * components that are ready at the same time, the one with the smallest name goes first.
 */
export function orderElements(set: Map<string, ResolvedElement>, providedBy: Map<string, string>): ResolvedElement[] {
  const names = [...set.keys()].sort(compareBytes);
  const edges = new Map<string, string[]>();
  for (const name of names) {
    const targets = new Set<string>();
    for (const dep of set.get(name)!.deps) {
      const target = set.has(dep) ? dep : providedBy.get(dep);
      if (target !== undefined && target !== name && set.has(target)) targets.add(target);
    }
    edges.set(name, [...targets].sort(compareBytes));
  }
  const components = stronglyConnected(names, edges);
  const componentOf = new Map<string, number>();
  components.forEach((members, i) => members.forEach((m) => componentOf.set(m, i)));

  // Kahn over the condensation: a component is ready when all components it depends on are emitted.
  const pending = components.map(() => 0);
  const dependants = components.map(() => new Set<number>());
  components.forEach((members, i) => {
    const needs = new Set<number>();
    for (const m of members) for (const t of edges.get(m)!) if (componentOf.get(t) !== i) needs.add(componentOf.get(t)!);
    pending[i] = needs.size;
    for (const n of needs) dependants[n].add(i);
  });
  const key = (i: number) => components[i][0];
  const ready = components.map((_, i) => i).filter((i) => pending[i] === 0);
  const out: ResolvedElement[] = [];
  while (ready.length) {
    ready.sort((a, b) => compareBytes(key(a), key(b)));
    const next = ready.shift()!;
    for (const m of components[next]) out.push(set.get(m)!);
    for (const d of dependants[next]) if (--pending[d] === 0) ready.push(d);
  }
  return out;
}

/** Tarjan's algorithm, iterative; each component's members sorted by name. */
function stronglyConnected(names: string[], edges: Map<string, string[]>): string[][] {
  let counter = 0;
  const indexOf = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const result: string[][] = [];
  for (const root of names) {
    if (indexOf.has(root)) continue;
    const work: Array<{ node: string; next: number }> = [{ node: root, next: 0 }];
    indexOf.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length) {
      const frame = work[work.length - 1];
      const targets = edges.get(frame.node)!;
      if (frame.next < targets.length) {
        const t = targets[frame.next++];
        if (!indexOf.has(t)) {
          indexOf.set(t, counter);
          low.set(t, counter++);
          stack.push(t);
          onStack.add(t);
          work.push({ node: t, next: 0 });
        } else if (onStack.has(t)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, indexOf.get(t)!));
        }
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1].node;
        low.set(parent, Math.min(low.get(parent)!, low.get(frame.node)!));
      }
      if (low.get(frame.node) === indexOf.get(frame.node)) {
        const members: string[] = [];
        let m: string;
        do {
          m = stack.pop()!;
          onStack.delete(m);
          members.push(m);
        } while (m !== frame.node);
        result.push(members.sort(compareBytes));
      }
    }
  }
  return result;
}
