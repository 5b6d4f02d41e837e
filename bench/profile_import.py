"""How `fundbot profile import` scales on a text built against it.

A contract of one long paragraph full of "fokusera på" with no colon made the
earlier key-area pattern backtrack to the end of the text at every
occurrence, so its work grew with the square of the length.  This prints the
time for 0.5, 1 and 2 million characters (the most import accepts); linear
work roughly doubles with each step.  The second text is lines of dot
leaders, ellipses and spaced digits without a page number, which made the
table-of-contents reading quadratic.

    python bench/profile_import.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_hostile import adversarial_contract, leader_contract  # noqa: E402

from matcher.profile_import import MAX_CHARS, analyse  # noqa: E402


def main() -> int:
    for name, build in (("key areas", adversarial_contract), ("dot leaders", leader_contract)):
        for chars in (MAX_CHARS // 4, MAX_CHARS // 2, MAX_CHARS):
            text = build(chars)
            start = time.perf_counter()
            draft = analyse(text, "skelleftea")
            print(f"{name:>11}: {len(text):>9,} characters: {time.perf_counter() - start:6.2f} s, "
                  f"{len(draft.blocks)} block(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
