"""deskkit's import-time repairs: rfc3987_syntax (1.6–1.8 s of parser building) loads only when
an IRI is actually checked, and the check gives the same answers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("rfc3987_syntax")

PROBE = """
import json, sys
import deskkit.charts  # Altair, and through it jsonschema
import jsonschema
built_at_import = "rfc3987_syntax.syntax_helpers" in sys.modules
checker = jsonschema.FormatChecker()
values = ["http://example.com/ä", "http://example.com/a b", "::", "urn:isbn:0451450523", "rel/x"]
answers = [[checker.conforms(v, f) for f in ("iri", "iri-reference")] for v in values]
from rfc3987_syntax import is_valid_syntax  # the real module, now loaded
real = [[is_valid_syntax(r, v) for r in ("iri", "iri_reference")] for v in values]
print(json.dumps({"built_at_import": built_at_import, "answers": answers, "real": real,
                  "loaded": "rfc3987_syntax.syntax_helpers" in sys.modules}))
"""


def test_iri_parsers_are_built_on_first_use_with_the_same_answers():
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["built_at_import"] is False  # importing deskkit and Altair built no parser
    assert got["loaded"] is True  # the first check loaded the real module
    assert got["answers"] == got["real"]
    assert got["answers"][0] == [True, True] and got["answers"][1] == [False, False]


def test_too_late_leaves_the_real_module_alone():
    """With jsonschema imported first, deskkit does not touch rfc3987_syntax."""
    code = (
        "import sys, jsonschema, deskkit; m = sys.modules['rfc3987_syntax'];"
        " print(hasattr(m, 'syntax_parser') or 'rfc3987_syntax.syntax_helpers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
