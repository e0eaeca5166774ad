"""Deterministic benchmark inputs: text pairs, embedding pairs and classification pairs.

Writes, into the output directory (default bench/generated/, ignored by git):
  scoring.json   the Part A cases, read by both the Rust bench (benches/scoring.rs) and bench/py_scoring.py:
                 {"cases": [{"name", "kind", "pointer", "tokens"|"dims", "pairs": [[primary_body, shadow_body], ...]}]}
                 Bodies are the raw response bodies as strings, exactly as a model server would send them.
  upstream/      canned bodies for the bench upstream (benches/upstream.rs), one file per role and path:
                 primary_embed.json, shadow_embed.json, primary_generate.json, ... and the request bodies.

Text is English-like: sentences from templates over a vocabulary with regular and irregular inflections,
numbers and punctuation. The shadow side is a paraphrase of the primary: synonyms, changed inflections,
dropped and inserted words, swapped sentences. Everything comes from one seeded random.Random.
"""

import argparse
import json
import os
import random
import re

SEED = 20240611

NOUNS = """model answer request service network customer engineer system response question document report
language river village teacher student market country product feature window garden mountain problem result
account kitchen library message manager morning evening weather season holiday journey computer keyboard screen
company program project meeting decision evidence history picture building station machine pattern surface
distance movement pressure balance material solution quantity condition direction business property relation
knowledge summary analysis argument approach benefit challenge comment concept context dataset element estimate
experience function influence method opinion package passenger position process purpose quality reaction region
resource schedule security signal sentence strategy structure subject support teacher technique theory thought
traffic training variable version warning worker writer""".split()

# Verbs: base form, and optional irregular (past, participle).
VERBS = """walk talk work play start finish explain describe compare measure improve develop produce provide
receive return change create follow allow consider continue require suggest include involve remember deliver
discover observe predict prepare protect publish reduce replace report request resolve review support train
translate understand generate evaluate increase decrease analyse organise connect collect select design answer
accept achieve arrange attach complete contain control cover decide depend enjoy expect handle happen help
imagine inform install introduce launch listen manage mention notice offer order perform prefer process promise
push reach record relate rely remain repeat search serve settle share solve store study test travel treat try
use visit wait watch wonder""".split()
IRREGULAR = {
    "write": ("wrote", "written"), "run": ("ran", "run"), "build": ("built", "built"), "find": ("found", "found"),
    "give": ("gave", "given"), "take": ("took", "taken"), "make": ("made", "made"), "see": ("saw", "seen"),
    "bring": ("brought", "brought"), "think": ("thought", "thought"), "teach": ("taught", "taught"),
    "begin": ("began", "begun"), "choose": ("chose", "chosen"), "grow": ("grew", "grown"), "know": ("knew", "known"),
    "speak": ("spoke", "spoken"), "keep": ("kept", "kept"), "leave": ("left", "left"), "lead": ("led", "led"),
    "send": ("sent", "sent"), "spend": ("spent", "spent"), "hold": ("held", "held"), "feel": ("felt", "felt"),
}
ADJECTIVES = """quick slow large small happy careful simple complex early late recent modern ancient bright dark
strong weak useful important different similar general specific public private natural final initial central
local global clear quiet loud heavy light careful serious obvious popular rapid steady sudden gentle honest
accurate reliable efficient effective expensive cheap narrow broad frequent rare formal casual typical unusual
visible hidden correct wrong""".split()
ADVERBS_EXTRA = "often rarely again soon already still almost perhaps quite very rather also even".split()
DETERMINERS = "the a this that every each another some".split()
PREPOSITIONS = "in on at with from into over under about after before during through across near".split()
CONNECTORS = ["and", "but", "because", "although", "while", "so", "whereas", "since"]
SUBJECTS = ["we", "they", "she", "he", "the team", "our users", "the operators", "most people", "the reviewers"]

SYNONYMS = [
    ["quick", "rapid", "fast", "swift"], ["large", "big", "huge", "broad"], ["small", "little", "tiny", "narrow"],
    ["happy", "glad", "pleased"], ["important", "significant", "crucial", "essential"],
    ["answer", "response", "reply", "solution"], ["problem", "issue", "challenge", "difficulty"],
    ["explain", "describe", "clarify"], ["improve", "enhance", "refine"], ["start", "begin", "launch"],
    ["finish", "complete", "conclude"], ["use", "employ", "apply"], ["show", "display", "present"],
    ["often", "frequently", "regularly"], ["maybe", "perhaps", "possibly"], ["very", "really", "quite", "extremely"],
    ["reliable", "dependable", "trustworthy"], ["method", "approach", "technique"], ["help", "support", "assist"],
    ["create", "produce", "generate", "build"], ["study", "analyse", "examine", "review"],
    ["change", "modify", "adjust", "alter"], ["clear", "obvious", "evident"], ["correct", "accurate", "right"],
    ["company", "business", "firm"], ["picture", "image", "photo"], ["journey", "trip", "travel"],
]
SYNONYM_OF = {w: group for group in SYNONYMS for w in group}
FILLERS = ["really", "also", "actually", "certainly", "generally", "usually", "clearly", "in fact", "of course"]


def past(v):
    if v in IRREGULAR:
        return IRREGULAR[v][0]
    if v.endswith("e"):
        return v + "d"
    if v.endswith("y") and v[-2] not in "aeiou":
        return v[:-1] + "ied"
    if re.fullmatch(r"[^aeiou]*[aeiou][bdgmnpt]", v) and len(v) <= 4:
        return v + v[-1] + "ed"
    return v + "ed"


def participle(v):
    return IRREGULAR[v][1] if v in IRREGULAR else past(v)


def third(v):
    if re.search(r"(s|sh|ch|x|z|o)$", v):
        return v + "es"
    if v.endswith("y") and v[-2] not in "aeiou":
        return v[:-1] + "ies"
    return v + "s"


def gerund(v):
    if v.endswith("ie"):
        return v[:-2] + "ying"
    if v.endswith("e") and not v.endswith("ee"):
        return v[:-1] + "ing"
    if re.fullmatch(r"[^aeiou]*[aeiou][bdgmnpt]", v) and len(v) <= 4:
        return v + v[-1] + "ing"
    return v + "ing"


def plural(n):
    if re.search(r"(s|sh|ch|x|z)$", n):
        return n + "es"
    if n.endswith("y") and n[-2] not in "aeiou":
        return n[:-1] + "ies"
    return n + "s"


def adverb(a):
    if a.endswith("y"):
        return a[:-1] + "ily"
    if a.endswith("le"):
        return a[:-1] + "y"
    if a.endswith("ic"):
        return a + "ally"
    return a + "ly"


ALL_VERBS = VERBS + list(IRREGULAR)


class TextGen:
    def __init__(self, rng):
        self.r = rng

    def noun_phrase(self):
        r = self.r
        n = r.choice(NOUNS)
        if r.random() < 0.35:
            n = plural(n)
            det = r.choice(["the", "some", "many", "these", "those", "several"])
        else:
            det = r.choice(DETERMINERS)
        if r.random() < 0.5:
            return f"{det} {r.choice(ADJECTIVES)} {n}"
        if r.random() < 0.1:
            return f"{det} {r.randint(2, 2048)} {n}"
        return f"{det} {n}"

    def verb_phrase(self):
        r = self.r
        v = r.choice(ALL_VERBS)
        form = r.random()
        if form < 0.3:
            verb = past(v)
        elif form < 0.5:
            verb = third(v)
        elif form < 0.7:
            verb = "is " + gerund(v)
        elif form < 0.85:
            verb = "has " + participle(v)
        else:
            verb = r.choice(["will", "can", "should", "might"]) + " " + v
        if r.random() < 0.25:
            verb = adverb(r.choice(ADJECTIVES)) + " " + verb
        return verb

    def clause(self):
        r = self.r
        subj = r.choice(SUBJECTS) if r.random() < 0.3 else self.noun_phrase()
        parts = [subj, self.verb_phrase(), self.noun_phrase()]
        if r.random() < 0.5:
            parts += [r.choice(PREPOSITIONS), self.noun_phrase()]
        if r.random() < 0.15:
            parts.append(r.choice(ADVERBS_EXTRA))
        return " ".join(parts)

    def sentence(self):
        r = self.r
        s = self.clause()
        if r.random() < 0.4:
            s += ("," if r.random() < 0.5 else "") + " " + r.choice(CONNECTORS) + " " + self.clause()
        s = s[0].upper() + s[1:]
        return s + r.choice([".", ".", ".", "!", "?", ";"])

    def text(self, tokens):
        """Sentences until the text has at least `tokens` ROUGE tokens, then cut to exactly that many words."""
        sentences = []
        count = 0
        while count < tokens:
            s = self.sentence()
            sentences.append(s)
            count += len(re.findall(r"[a-z0-9]+", s.lower()))
        words = " ".join(sentences).split(" ")
        out, count = [], 0
        for w in words:
            n = len(re.findall(r"[a-z0-9]+", w.lower()))
            if count + n > tokens:
                break
            out.append(w)
            count += n
        text = " ".join(out)
        return text if text.endswith((".", "!", "?")) else text.rstrip(",;") + "."

    def paraphrase(self, text, edit_rate):
        """The shadow model's answer: the same content, reworded in places."""
        r = self.r
        sentences = re.findall(r"[^.!?;]+[.!?;]", text)
        for i in range(len(sentences) - 1):
            if r.random() < edit_rate * 0.5:
                sentences[i], sentences[i + 1] = sentences[i + 1], sentences[i]
        out = []
        for s in sentences:
            words = s.strip().split(" ")
            new = []
            for w in words:
                core = re.sub(r"[^A-Za-z0-9]", "", w).lower()
                tail = w[len(w.rstrip(".,!?;")):]
                x = r.random()
                if x < edit_rate * 0.25 and core in SYNONYM_OF:
                    new.append(r.choice([x for x in SYNONYM_OF[core] if x != core]) + tail)
                elif x < edit_rate * 0.45 and core in ALL_VERBS:
                    new.append(r.choice([past, third, gerund])(core) + tail)
                elif x < edit_rate * 0.55 and not tail:
                    continue  # dropped word
                elif x < edit_rate * 0.65:
                    new.append(r.choice(FILLERS))
                    new.append(w if new[:-1] else w[:1].lower() + w[1:])
                elif x < edit_rate * 0.75 and core.endswith("s") and len(core) > 4 and not tail:
                    new.append(core[:-1])  # plural to singular
                else:
                    new.append(w)
            s2 = " ".join(new)
            out.append(s2[0].upper() + s2[1:] if s2 else s2)
        return " ".join(x for x in out if x)


def embedding(rng, dims):
    v = [rng.gauss(0.0, 1.0) for _ in range(dims)]
    norm = sum(x * x for x in v) ** 0.5
    return [x / norm for x in v]


def perturbed(rng, v, noise):
    return [x + rng.gauss(0.0, noise) for x in v]


LABELS = ["positive", "negative", "neutral", "spam", "toxic", "question", "complaint", "praise"]


def classification(rng, label=None):
    label = label or rng.choice(LABELS)
    scores = {l: round(rng.random(), 4) for l in rng.sample(LABELS, 3)}
    return {"label": label, "confidence": round(rng.uniform(0.5, 1.0), 4), "model": "clf-v3", "scores": scores}


def scoring_cases(rng):
    """Part A: the pairs each contender scores. Counts keep the slowest Python case within seconds."""
    gen = TextGen(rng)
    cases = []
    for tokens, n in [(100, 40), (500, 12), (2000, 3)]:
        pairs = []
        for _ in range(n):
            a = gen.text(tokens)
            b = gen.paraphrase(a, edit_rate=0.3)
            pairs.append([json.dumps({"text": a, "model": "gen-prod"}), json.dumps({"text": b, "model": "gen-shadow"})])
        cases.append({"name": f"rouge_l_{tokens}", "kind": "rouge_l", "pointer": "/text", "tokens": tokens, "pairs": pairs})
    for dims, n in [(384, 40), (1536, 20)]:
        pairs = []
        for _ in range(n):
            a = embedding(rng, dims)
            b = perturbed(rng, a, 0.005)
            pairs.append([json.dumps({"embedding": a}), json.dumps({"embedding": b})])
        cases.append({"name": f"cosine_{dims}", "kind": "cosine", "pointer": "/embedding", "dims": dims, "pairs": pairs})
    pairs = []
    for i in range(64):
        a = classification(rng)
        if i % 4 == 0:
            b = classification(rng)  # a different answer
        elif i % 4 == 1:
            b = dict(reversed(list(a.items())))  # same answer, members in another order
        else:
            b = json.loads(json.dumps(a))
        pairs.append([json.dumps(a), json.dumps(b, separators=(",", ":")) if i % 2 else json.dumps(b)])
    cases.append({"name": "exact_classify", "kind": "exact", "pointer": "", "pairs": pairs})
    return cases


def upstream_bodies(rng):
    """Part B: what the bench upstream answers on each path, as production and as shadow."""
    gen = TextGen(rng)
    a = embedding(rng, 1536)
    text = gen.text(500)
    label = classification(rng)
    shadow_label = dict(label, confidence=round(label["confidence"] * 0.97, 4))
    long_text = gen.text(2000)
    return {
        "primary_embed.json": {"embedding": a, "model": "embed-prod"},
        "shadow_embed.json": {"embedding": perturbed(rng, a, 0.005), "model": "embed-shadow"},
        "primary_generate.json": {"text": text, "model": "gen-prod"},
        "shadow_generate.json": {"text": gen.paraphrase(text, edit_rate=0.3), "model": "gen-shadow"},
        # Only for the capacity probe: long texts make the compare service, not the proxy, the bottleneck.
        "primary_generate_long.json": {"text": long_text, "model": "gen-prod"},
        "shadow_generate_long.json": {"text": gen.paraphrase(long_text, edit_rate=0.3), "model": "gen-shadow"},
        "primary_classify.json": {"label": label["label"], "confidence": label["confidence"]},
        "shadow_classify.json": {"label": shadow_label["label"], "confidence": shadow_label["confidence"]},
        # What clients send (the upstream ignores it; Envoy forwards and mirrors it).
        "request_embed.json": {"input": gen.sentence(), "model": "embed"},
        "request_generate.json": {"prompt": gen.sentence(), "max_tokens": 600},
        "request_generate_long.json": {"prompt": gen.sentence(), "max_tokens": 2400},
        "request_classify.json": {"input": gen.sentence()},
    }


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.path.join(here, "generated"))
    args = p.parse_args(argv)
    os.makedirs(os.path.join(args.out, "upstream"), exist_ok=True)
    rng = random.Random(SEED)
    with open(os.path.join(args.out, "scoring.json"), "w") as f:
        json.dump({"seed": SEED, "cases": scoring_cases(rng)}, f)
    for name, body in upstream_bodies(rng).items():
        with open(os.path.join(args.out, "upstream", name), "w") as f:
            json.dump(body, f)
    print(f"inputs written to {os.path.relpath(args.out)}")


if __name__ == "__main__":
    main()
