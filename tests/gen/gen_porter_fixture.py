"""Writes tests/fixtures/porter_vocab.tsv: words and their stems from NLTK's PorterStemmer.

The Rust port in src/rouge/porter.rs must agree with `nltk.stem.porter.PorterStemmer()` (the stemmer
rouge-score 0.1.2 uses) on every word; tests/porter.rs checks it against this file.

The vocabulary is built here, deterministically (fixed seed, no system word list):
  * real English words and their inflections and derivations (base + suffix, with the usual spelling
    changes, and some two-suffix chains),
  * the examples of Porter's paper and every irregular form in NLTK's pool,
  * letter strings biased to consonant/vowel patterns, 'y' runs, double consonants and digits,
  * a few short words (1-3 letters), which rouge-score never stems but the port handles anyway.

Run with the project's venv (nltk 3.10.4):  python tests/gen/gen_porter_fixture.py
"""

import random
import re
from pathlib import Path

import nltk
from nltk.stem.porter import PorterStemmer

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "porter_vocab.tsv"
SEED = 20240517
VALID = re.compile(r"^[a-z0-9]+$")

BASE_WORDS = """
able accept access account achieve acquire act action active actor adapt add address adjust admire admit
adopt advance advise affect afford agree aim allow alter amaze amuse analyse analyze anger announce annoy
answer anticipate apologize appear applaud apply appoint approach approve argue arise arrange arrive ask
assemble assert assess assign assist assume assure attach attack attempt attend attract authorize avoid
awake bake balance ban bang bar bare bat bathe battle beam bear beat beg begin behave believe belong bend
benefit bet bind bite blame bleach bless blind blink blot blow blush boast boil bolt bomb book bore borrow
bounce bow box brake branch breathe breed bring broadcast brush bubble build bump burn bury buy buzz
calculate call camp care carry carve cause celebrate challenge change charge chase cheat check cheer chew
choke choose chop claim clap clean clear clip close coach coil collect colour combine come command
communicate compare compete complain complete compose compute concentrate concern confess confirm confuse
connect consider consist construct contain continue control convert convince cook copy correct cough
count cover crack crash crawl create creep criticize cross crush cry cure curl curve cut cycle dam damage
dance dare deal decay deceive decide decorate defend define delay delight deliver demand depend describe
design desire destroy detect develop differ digest dig direct disagree disappear discover dislike divide
dock donate double doubt drag drain draw dream dress drink drip drive drop drown drum dry dust earn eat
educate embarrass employ empty encourage end endure enjoy enter entertain escape examine excite excuse
exercise exist expand expect explain explode explore express extend face fade fail fancy fasten fax fear
feed feel fence fetch fight file fill film find fire fit fix flap flash flee fling float flood flow
flower fly fold follow fool force forget forgive form found frame frighten fry gather gaze generate get
give glow glue govern grab grate grease greet grin grip groan grow guarantee guard guess guide hammer
hand handle hang happen harm hate haunt head heal heap hear heat help hide hit hold hook hop hope hover
hug hum hunt hurry hurt identify ignore imagine impress improve include increase influence inform inject
injure insist install instruct intend interest interfere interrupt introduce invent invite irritate itch
jail jam jog join joke judge juggle jump keep kick kill kiss kneel knit knock knot know label land last
laugh launch lay lead lean leap learn leave lend level license lick lie lift light like limp list listen
live load lock long look lose love manage march mark marry match mate matter measure meet melt memorize
mend milk mine miss mix moan moor mourn move muddle mug multiply murder nail name need nest nod note
notice number obey object observe obtain occur offend offer open operate order organize overflow owe own
pack paddle paint park part pass paste pat pause peck pedal peel peep perform permit phone pick pinch pine
place plan plant play please plug point poke polish pop possess post pour practise pray preach precede
prefer prepare present preserve press pretend prevent prick print produce program promise protect provide
pull pump punch puncture punish push question queue quit race radiate rain raise reach read realize
receive recognize record reduce reflect refuse regret reign reject rejoice relax release rely remain
remember remind remove repair repeat replace reply report reproduce request rescue retire return rhyme
rinse risk rob rock roll rot rub ruin rule run rush sack sail satisfy save saw say scare scatter scold
scorch scrape scratch scream screw scribble scrub seal search separate serve settle shade share shave
shelter shiver shock shop shrug sigh sign signal sin sip ski skip slap sleep slip slow smash smell smile
smoke snatch sneeze sniff snore snow soak soothe sound spare spark sparkle speak spell spend spill spoil
spot spray sprout squash squeak squeal squeeze stain stamp stare start stay steer step stir stitch stop
store strap strengthen stretch strip stroke stuff subtract succeed suck suffer suggest suit supply
support suppose surprise surround suspect suspend swim switch tame tap taste teach tear tease telephone
tempt terrify test thank thaw tick tickle tie time tip tire touch tour tow trace trade train transport
trap travel treat tremble trick trip trot trouble trust try tug tumble turn twist type undress unfasten
unite unlock unpack untidy use vanish visit wail wait walk wander want warm warn wash waste watch water
wave weigh welcome whine whip whirl whisper whistle wink wipe wish wobble wonder work worry wrap wreck
wrestle wriggle write yawn yell zip zoom
nation relation condition ration tradition function station emotion motion notion portion region
religion union opinion million onion fashion passion mission vision decision division revision tension
pension version person season reason lesson prison poison cotton button mutton bottom system problem
theory history memory factory territory category victory story glory army enemy energy economy policy
society variety anxiety city community quality quantity ability activity authority capacity charity
density dignity electricity entity equality facility faculty identity majority minority necessity
opportunity personality possibility priority probability property reality responsibility security
sensitivity university utility validity velocity vitality body lady baby copy party duty study family
country county company colony harmony melody remedy comedy tragedy strategy technology biology geology
ecology theology psychology sociology ideology methodology analogy apology anthology chronology
terminology archaeology philosophy photography geography biography democracy bureaucracy diplomacy
accuracy privacy legacy agency emergency frequency tendency urgency efficiency deficiency consistency
dependency currency fluency infancy pregnancy vacancy constancy relevance importance performance
appearance assistance distance instance substance resistance tolerance ignorance balance finance
audience conference difference evidence experience influence intelligence licence presence reference
science sentence silence violence patience confidence existence independence coincidence government
department development environment equipment management movement payment statement treatment agreement
argument document element experiment instrument moment monument segment sentiment settlement achievement
advertisement amusement announcement arrangement assessment commitment employment encouragement
engagement entertainment establishment improvement investment involvement judgement punishment
replacement requirement retirement student agent client patient parent current accident incident
president resident talent event content context contest contract contrast concert convert desert dessert
effort export import report resort support sport airport passport transport comfort
happy angry busy easy lazy crazy heavy ready steady silly ugly early lonely lovely friendly likely
daily holy jolly merry sorry tiny dirty empty funny sunny rainy windy cloudy noisy healthy wealthy
wealth health stealth truth youth growth depth length strength width breadth warmth month
beauty loyalty royalty penalty cruelty novelty safety society anxiety
national rational natural cultural central general special social official original personal
political practical physical chemical medical musical critical typical logical magical tropical
historical economical electrical mechanical radical vertical identical theoretical
formal normal final total local vocal moral mortal fatal vital royal loyal legal regal equal
careful helpful hopeful useful harmful painful peaceful powerful successful thoughtful wonderful
beautiful grateful faithful fearful forceful graceful joyful lawful playful skilful
dangerous famous generous nervous various serious curious furious glorious obvious previous anxious
jealous zealous callous enormous tremendous numerous humorous rigorous vigorous continuous
active passive massive expensive extensive intensive defensive offensive impressive aggressive
progressive creative positive negative relative sensitive attractive effective productive
responsive decisive conclusive inclusive exclusive elusive abusive explosive
possible terrible horrible visible edible flexible incredible responsible sensible invisible
capable comfortable reasonable suitable valuable available considerable remarkable acceptable
adjustable agreeable changeable noticeable probable notable stable table cable fable
electric electronic economic scientific specific terrific basic classic comic critic fantastic
dramatic automatic systematic romantic academic atomic dynamic organic public music magic logic
tragic heroic ironic poetic athletic domestic elastic plastic drastic majestic
capital hospital animal signal interval festival arrival survival approval removal proposal
criminal terminal journal material mineral general admiral funeral
teacher worker driver farmer player singer dancer writer reader leader speaker owner manager
computer printer monitor doctor actor author editor visitor inventor operator generator
calculator indicator educator creator narrator commentator translator
hand head heart house horse mouse moose goose cheese breeze freeze sneeze
tree free knee agree degree decree guarantee referee employee refugee trainee
feed seed need weed bleed breed speed greed creed deed proceed exceed succeed
big dog cat hat bat rat mat fat sat pat hot pot not lot rot dot cot got
run sun fun gun bun nut cut but hut put shut
swim slim trim dim him rim brim grim whim
stop shop drop crop prop hop mop pop top chop flop
plan man can fan pan ran tan van ban scan span
bed red wed fed led shed sled
stab grab crab drab cab jab lab tab
"""

# Suffixes of inflection and derivation, covering every rule of steps 1 to 5.
SUFFIXES = """
s es ies ing ings ed er ers est ly ily ness nesses ful fully fulness fulli
ation ations ational ationally ationalize ization izations izer izers ize izes ized izing
ator ators ative atively ate ates ated ating atism
al als ally alli alism alist alists ality alities aliti alize alizes alized alizing
ement ements ment ments ent ents ently entli ence ences ency enci
ance ances ancy anci ant ants
able ably abli ability abilities biliti bly bli ible ibly ibility
ic ics ical ically icate icates icated iciti icity
ism isms ist ists ity ities iti iviti ivity ivities ive ives ively iveness
ous ously ousli ousness eli ely less lessly lessness
logi logy logies logical logically
ion ions er ee ees eed eeds
y ys iest ier ied
""".split()

# Porter's paper (1980): the example of every rule.
PAPER_EXAMPLES = """
caresses ponies ties caress cats feed agreed plastered bled motoring sing conflated troubled sized
hopping tanned falling hissing fizzed failing filing happy sky relational conditional rational valenci
hesitanci digitizer conformabli radicalli differentli vileli analogousli vietnamization predication
operator feudalism decisiveness hopefulness callousness formaliti sensitiviti sensibiliti triplicate
formative formalize electriciti electrical hopeful goodness revival allowance inference airliner
gyroscopic adjustable defensible irritant replacement adjustment dependent adoption homologou communism
activate angulariti homologous effective bowdlerize probate rate cease controll roll
generalization generalizations oscillators oscillator
""".split()

# Words that exercise NLTK's extensions and the corners of the 'y' and measure rules.
CORNER_CASES = """
dies died ties tied lies lied spies spied flies flied cries cried dries dried pies pied
enjoy enjoys enjoyed enjoying enjoyment spy spying try trying fly flying syzygy syzygies yyyy yyyyy
yyyyyy yyyying yyyyed ayyy byyy ayyyy eyyy toy toys yoyo yoyos yearly yearlies yyys
archaeology geology theology geologi theologi biologi logi ologi philology
feeds feeding proceeding proceeds exceeding exceeds succeeding succeeds proceeded exceeded succeeded
outings inning innings canning cannings howe howes newsy skying skyed
2000s 1990s mp3s covid19 web3 h2o b2b x86 4ever 3ing 4eds a1b2ing a1b2ed 12ies 1ies 99ed 99ing
aaaa eeee iiii oooo uuuu bbbb ssss llll zzzz abba abbas alli calli balli palli
""".split()


def short_words(rng):
    """Every word of 1 or 2 letters/digits, and a sample of 3-letter ones."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    words = set(alphabet)
    words.update(a + b for a in alphabet for b in "abcdefghijklmnopqrstuvwxyz")
    words.update(rng.choice(alphabet) + rng.choice("aeiouy") + rng.choice("sdygnlzt") for _ in range(400))
    words.update(["ies", "ied", "eed", "ing", "ed", "yy", "ys", "oed", "sky", "die", "lie", "tie"])
    return words


def inflections(base):
    """`base` with each suffix, plain and with the usual English spelling changes."""
    forms = set()
    for suffix in SUFFIXES:
        forms.add(base + suffix)
        if base.endswith("e") and suffix[0] in "aeiouy":
            forms.add(base[:-1] + suffix)  # hope -> hoping
        if base.endswith("y") and len(base) > 2 and base[-2] not in "aeiou":
            forms.add(base[:-1] + "i" + suffix)  # happy -> happiness
        if (
            len(base) >= 3
            and base[-1] not in "aeiouwxy"
            and base[-2] in "aeiou"
            and base[-3] not in "aeiou"
            and suffix[0] in "aeiouy"
        ):
            forms.add(base + base[-1] + suffix)  # stop -> stopping
    return forms


def suffix_chains(rng, bases, count):
    """Base words with two or three suffixes, as in 'generalizations' or 'hopefulnesses'."""
    forms = set()
    for _ in range(count):
        word = rng.choice(bases)
        for _ in range(rng.choice((2, 2, 3))):
            word += rng.choice(SUFFIXES)
        forms.add(word)
    return forms


def pattern_words(rng, count):
    """Letter strings shaped like words: consonant/vowel runs, 'y's, double consonants and digits."""
    consonants = "bcdfghjklmnpqrstvwxz"
    vowels = "aeiou"
    words = set()
    while len(words) < count:
        parts = []
        for _ in range(rng.randint(2, 7)):
            roll = rng.random()
            if roll < 0.42:
                parts.append(rng.choice(consonants))
            elif roll < 0.75:
                parts.append(rng.choice(vowels))
            elif roll < 0.85:
                parts.append("y" * rng.choice((1, 1, 1, 2, 3)))
            elif roll < 0.95:
                parts.append(rng.choice(consonants) * 2)
            else:
                parts.append(str(rng.randint(0, 99)))
        word = "".join(parts)
        if rng.random() < 0.6:
            word += rng.choice(SUFFIXES)
        if len(word) > 3:
            words.add(word)
    return words


def main():
    rng = random.Random(SEED)
    stemmer = PorterStemmer()
    bases = sorted(set(BASE_WORDS.split()))

    always = set(PAPER_EXAMPLES) | set(CORNER_CASES) | set(stemmer.pool) | short_words(rng)
    always.update(bases)
    # The pool's forms with suffixes, which go through the rules instead.
    always.update(form + suffix for form in stemmer.pool for suffix in ("s", "ed", "ing", "ly"))

    # Each family gets a fixed share of the fixture, drawn from a larger pool of candidates.
    inflected = set()
    for base in bases:
        inflected.update(inflections(base))
    families = [
        (inflected, 20000),
        (suffix_chains(rng, bases, 9000), 6000),
        (pattern_words(rng, 9000), 8000),
    ]
    chosen = set(always)
    for candidates, share in families:
        fresh = sorted(candidates - chosen)
        chosen.update(rng.sample(fresh, min(share, len(fresh))))

    words = sorted(w for w in chosen if VALID.match(w))
    lines = [f"{w}\t{stemmer.stem(w)}\n" for w in words]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(lines), encoding="ascii")

    longer = sum(1 for w in words if len(w) > 3)
    print(
        f"nltk {nltk.__version__}: wrote {len(words)} words ({longer} longer than 3 characters), "
        f"{OUT.stat().st_size} bytes, to {OUT.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main()
