"""The Python contender of Part A: the same work as `Scorer::score`, the way a Python service would do it.

  rouge_l  rouge_score.rouge_scorer.RougeScorer(['rougeL'], use_stemmer=True).score(a, b)  (on the texts)
  cosine   json.loads of both bodies + numpy: np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
  exact    json.loads(a) == json.loads(b)
"""

import json
import time

import numpy as np
from rouge_score import rouge_scorer

_ROUGE = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def cosine_bodies(a_body, b_body, member="embedding"):
    a = np.asarray(json.loads(a_body)[member], dtype=np.float64)
    b = np.asarray(json.loads(b_body)[member], dtype=np.float64)
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def rouge_texts(a, b):
    return _ROUGE.score(a, b)["rougeL"].fmeasure


def exact_bodies(a_body, b_body):
    return 1.0 if json.loads(a_body) == json.loads(b_body) else 0.0


def contender(case):
    """A function of a pair index, doing the case's work on that pair. Text is taken out of the JSON bodies
    beforehand: rouge-score is given the strings, as its users call it."""
    pairs = case["pairs"]
    if case["kind"] == "rouge_l":
        member = case["pointer"].lstrip("/")
        texts = [(json.loads(a)[member], json.loads(b)[member]) for a, b in pairs]
        return lambda i: rouge_texts(*texts[i])
    if case["kind"] == "cosine":
        member = case["pointer"].lstrip("/")
        return lambda i: cosine_bodies(pairs[i][0], pairs[i][1], member)
    if case["kind"] == "exact":
        return lambda i: exact_bodies(*pairs[i])
    raise ValueError(f"unknown kind {case['kind']!r}")


def measure(case, score, start, seconds, max_pairs=None):
    """Scores pairs in order from index `start` (cycling) until `seconds` have passed (at least one pair) or
    `max_pairs` are done. Returns (pairs_per_sec, pairs_done, elapsed, {index: score}, next_start)."""
    n = len(case["pairs"])
    scores = {}
    done = 0
    i = start
    t0 = time.perf_counter()
    while True:
        scores[i] = score(i)
        done += 1
        i = (i + 1) % n
        elapsed = time.perf_counter() - t0
        if (max_pairs is not None and done >= max_pairs) or (max_pairs is None and elapsed >= seconds):
            break
    return done / elapsed, done, elapsed, scores, i
