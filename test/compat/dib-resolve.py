# Run upstream DIB's resolver over many element lists in one process; print one JSON line per list.
# Used by dib-resolver.test.ts under several PYTHONHASHSEED values (DIB's answer can depend on it).
import json
import logging
import sys

from diskimage_builder import element_dependencies as ed

logging.disable(logging.CRITICAL)
paths, lists_file = sys.argv[1], sys.argv[2]
with open(lists_file) as f:
    lists = json.load(f)
try:
    all_elements = ed._find_all_elements(paths)
except Exception as e:  # noqa: BLE001 - bad ELEMENTS_PATH: every list fails the same way
    for _ in lists:
        print(json.dumps({"error": type(e).__name__, "message": str(e)}))
    sys.exit(0)
for elements in lists:
    try:
        result = ed._expand_element_dependencies(elements, all_elements)
        print(json.dumps({"ok": sorted(e.name for e in result)}))
    except Exception as e:  # noqa: BLE001 - we report the kind
        print(json.dumps({"error": type(e).__name__, "message": str(e)}))
