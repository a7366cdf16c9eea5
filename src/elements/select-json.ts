// An element selection as JSON (element-info --json, and the start of --plan --json).
import type { ElementSelection } from './select.js';

export function selectionToJson(selection: ElementSelection) {
  return {
    elements: selection.elements.map((e) => ({ name: e.name, path: e.path, deps: e.deps, provides: e.provides, pulledBy: e.pulledBy })),
    providedBy: Object.fromEntries([...selection.providedBy].sort()),
    warnings: selection.warnings,
  };
}
