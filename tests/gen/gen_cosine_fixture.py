"""Generates tests/fixtures/cosine_pairs.jsonl: embedding pairs with numpy's cosine similarity (the reference).

Each line is one JSON object:
    {"dim", "case", "pointer", "primary", "shadow", "expected", "expected_bits", "condition", "source", "numpy"}
- primary / shadow: the raw response bodies, exactly as json.dumps writes them (Python's float repr, ints as
  ints), in three shapes: {"embedding": [...]}, an OpenAI-style {"data": [{"embedding": [...]}], ...} and a
  bare array, with the matching pointer.
- expected: the cosine in [-1, 1] (not yet clamped to the [0, 1] score), with its IEEE-754 bits so the Rust
  test need not trust a float parser.
- source: where expected comes from.
    "numpy"       np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)), the usual reference.
    "exact"       numpy overflowed, underflowed into nan/inf, or lost precision to underflow (it disagrees with
                  the exact value by more than the test tolerance); expected is then the exact value, computed
                  from the floats as integers and rounded once with 60-digit decimals.
    "definition"  the formula is 0/0 (a zero vector): the crate's contract says 1.0 for two zero vectors and
                  0.0 for a zero vector against a non-zero one.
- numpy: what numpy said, as repr text ("nan" and "inf" included), kept for every row.
- condition: sum|a_i b_i| / (|a| |b|), computed exactly. A floating dot product is accurate relative to this,
  not to the result, so the test's tolerance is 1e-9 * max(|expected|, condition).

Run with the project's virtualenv Python (numpy installed there):
    python tests/gen/gen_cosine_fixture.py [OUTPUT]
OUTPUT defaults to tests/fixtures/cosine_pairs.jsonl.
"""

import json
import math
import struct
import sys
from decimal import Decimal, getcontext
from fractions import Fraction
from pathlib import Path

import numpy as np

SEED = 20240611
DIMS = [3, 384, 768, 1536]
TOLERANCE = 1e-9
REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = REPO / "tests" / "fixtures" / "cosine_pairs.jsonl"

getcontext().prec = 60
# Every finite double is an integer multiple of 2^-1074.
SCALE = 2**1074


def as_int(x):
    """x * 2^1074 as an exact integer."""
    f = Fraction(x)
    n = f * SCALE
    assert n.denominator == 1
    return n.numerator


def exact_cosine(a, b):
    """(cosine, condition) from the floats' exact values; None for the cosine when a norm is zero."""
    ia = [as_int(x) for x in a]
    ib = [as_int(x) for x in b]
    dot = sum(x * y for x, y in zip(ia, ib))
    abs_dot = sum(abs(x * y) for x, y in zip(ia, ib))
    na = sum(x * x for x in ia)
    nb = sum(y * y for y in ib)
    if na == 0 or nb == 0:
        return None, 0.0
    denominator = (Decimal(na) * Decimal(nb)).sqrt()
    return float(Decimal(dot) / denominator), float(Decimal(abs_dot) / denominator)


def numpy_cosine(a, b):
    x = np.array(a, dtype=np.float64)
    y = np.array(b, dtype=np.float64)
    with np.errstate(all="ignore"):
        return float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y)))


def bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def body(vector, shape):
    if shape == "embedding":
        return json.dumps({"embedding": vector}), "/embedding"
    if shape == "openai":
        doc = {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": vector}],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 8, "total_tokens": 8},
        }
        return json.dumps(doc), "/data/0/embedding"
    return json.dumps(vector), ""


def floats(array):
    return [float(x) for x in array]


def unit(rng, dim):
    v = rng.standard_normal(dim)
    return v / np.linalg.norm(v)


def cases(rng, dim):
    """(name, a, b) pairs; a and b are Python lists of floats and/or ints."""
    a = rng.standard_normal(dim)
    b = rng.standard_normal(dim)
    u = unit(rng, dim)
    yield "random_normal", floats(a), floats(b)
    yield "random_unit", floats(u), floats(unit(rng, dim))
    yield "nearly_identical_1e-3", floats(u), floats(u + rng.standard_normal(dim) * 1e-3)
    yield "nearly_identical_1e-9", floats(u), floats(u + rng.standard_normal(dim) * 1e-9)
    yield "identical", floats(a), floats(a)
    yield "scaled_copy_3.7", floats(a), floats(a * 3.7)
    yield "scaled_copy_1e-5", floats(a), floats(a * 1e-5)
    yield "opposite", floats(a), floats(-a)
    yield "opposite_scaled", floats(u), floats(-2.5 * u)
    # Gram-Schmidt: b minus its projection on a.
    orth = b - (np.dot(a, b) / np.dot(a, a)) * a
    yield "orthogonal", floats(a), floats(orth)
    yield "negatively_correlated", floats(a), floats(-a + rng.standard_normal(dim))
    yield "zero_vs_zero", [0.0] * dim, [0.0] * dim
    yield "zero_vs_nonzero", [0.0] * dim, floats(a)
    yield "nonzero_vs_zero_ints", floats(b), [0] * dim
    yield "huge_1e300", floats(a * 1e300), floats(b * 1e300)
    yield "huge_vs_copy", floats(a * 1e300), floats(a * 3e300)
    yield "tiny_1e-300", floats(a * 1e-300), floats(b * 1e-300)
    yield "huge_vs_tiny_same_direction", floats(u * 1e300), floats(u * 1e-300)
    # Squares near 1e-320 are subnormal: numpy stays finite but loses digits.
    yield "partial_underflow_1e-160", floats(a * 1e-160), floats(b * 1e-160)
    yield "subnormal_1e-310", floats(a * 1e-310), floats((a + rng.standard_normal(dim) * 0.1) * 1e-310)
    mixed_magnitudes = a * np.where(rng.random(dim) < 0.5, 1e150, 1e-150)
    yield "mixed_magnitudes_1e150", floats(mixed_magnitudes), floats(mixed_magnitudes + b * 1e149)
    ints = [int(x) for x in rng.integers(-1000, 1001, dim)]
    mixed = [int(x) if i % 2 == 0 else float(x) * 0.37 for i, x in enumerate(rng.integers(-1000, 1001, dim))]
    yield "ints", ints, [int(x) for x in rng.integers(-1000, 1001, dim)]
    yield "mixed_ints_floats", mixed, [v * 2 if isinstance(v, int) else v + 0.5 for v in mixed]
    yield "ints_vs_equal_floats", ints, [float(x) for x in ints]
    big = [int(x) * 10**15 + 7 for x in rng.integers(-9, 10, dim)]
    yield "big_ints", big, [x + 1 for x in big]
    one_hot = [0.0] * dim
    one_hot[dim // 2] = 1.0
    yield "one_hot_vs_random", one_hot, floats(a)


def main():
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT
    rng = np.random.default_rng(SEED)
    shapes = ["embedding", "openai", "bare"]
    counts = {"numpy": 0, "exact": 0, "definition": 0}
    rows = 0
    with open(output, "w", encoding="utf-8") as out:
        for dim in DIMS:
            for i, (name, a, b) in enumerate(cases(rng, dim)):
                assert len(a) == dim and len(b) == dim
                assert all(math.isfinite(x) for x in a + b), name
                shape = shapes[(i + dim) % len(shapes)]
                primary, pointer = body(a, shape)
                shadow, _ = body(b, shape)
                exact, condition = exact_cosine(a, b)
                reference = numpy_cosine(a, b)
                if exact is None:
                    expected = 1.0 if all(x == 0 for x in a) and all(y == 0 for y in b) else 0.0
                    source = "definition"
                elif math.isfinite(reference) and abs(reference - exact) <= TOLERANCE * max(abs(exact), condition):
                    expected, source = reference, "numpy"
                else:
                    expected, source = exact, "exact"
                counts[source] += 1
                rows += 1
                row = {
                    "dim": dim,
                    "case": name,
                    "pointer": pointer,
                    "primary": primary,
                    "shadow": shadow,
                    "expected": expected,
                    "expected_bits": bits(expected),
                    "condition": condition,
                    "source": source,
                    "numpy": repr(reference),
                }
                out.write(json.dumps(row) + "\n")
    size = output.stat().st_size
    print(f"wrote {rows} rows ({size / 1e6:.1f} MB) to {output}: {counts}")


if __name__ == "__main__":
    main()
