"""The score of `make mutation` per module, from mutmut's results (docs/mutation.md shows it)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict

# mutmut names a mutant `<module>.x_<function>__mutmut_<n>` (methods: `<module>.xǁ<Class>ǁ<method>__mutmut_<n>`).
_LINE = re.compile(r"^\s*(?P<module>[\w.]+?)\.x[_ǁ].*__mutmut_\d+: (?P<status>.+?)\s*$")


def main() -> int:
    out = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"], capture_output=True, text=True, check=True
    ).stdout
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for line in out.splitlines():
        match = _LINE.match(line)
        if match:
            counts[match["module"]][match["status"]] += 1
    total: Counter[str] = Counter()
    print("| module | mutants | killed | survived | timeout | no tests | killed of tested |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for module, c in sorted(counts.items()):
        total.update(c)
        print(_row(module, c))
    print(_row("**all**", total))
    return 0


def _row(name: str, c: Counter[str]) -> str:
    killed = c["killed"] + c["timeout"]
    tested = killed + c["survived"]
    share = f"{100 * killed / tested:.0f} %" if tested else "-"
    return (
        f"| {name} | {sum(c.values())} | {c['killed']} | {c['survived']} | {c['timeout']} | {c['no tests']} | {share} |"
    )


if __name__ == "__main__":
    raise SystemExit(main())
