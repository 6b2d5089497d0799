"""Text cleaning: normalisation and the boilerplate rule set, kept in this one place.

The rules (documented in docs/ingestion.md, tested in tests/test_cleaning.py):

1. Normalise: CRLF to LF, non-breaking and odd spaces to spaces, control characters
   dropped, trailing spaces trimmed, runs of blank lines folded to one.
2. Unwrap hard-wrapped newswire text (Reuters style: ~70-column lines, paragraphs start
   with indentation) into one line per paragraph.
3. Drop whole lines that are site furniture: ad markers, comment prompts, image and
   photo credits, share prompts, "Updated/Published <date>" stamp lines.
4. Cut a trailing widget: from a "Tags" / "Related articles" / "Read more" heading near
   the end of the article, everything after it goes.
5. Drop a newswire sign-off ("Reuter") at the end, and a trailing photo caption: a lone
   agency credit on the last line together with the unpunctuated caption line above it.
6. Cut a photo credit ("Photo by X/AFP via Getty Images") off the end of a caption line.
"""

from __future__ import annotations

import re
import unicodedata

# Rule 3: a line equal to one of these (case-insensitive, ignoring trailing punctuation) is dropped.
BOILERPLATE_LINES = re.compile(
    r"""^(?:
        advertisements?|advertisement\s*-\s*scroll\s+to\s+continue|sponsored(?:\s+content)?|
        story\s+continues\s+below(?:\s+advertisement)?|
        leave\s+a\s+(?:reply|comment)|post\s+a\s+comment|\d*\s*comments?|
        please\s+enter\s+your\s+(?:comment|name\s+here|email\s+address\s+here)|
        you\s+have\s+entered\s+an\s+incorrect\s+email\s+address|
        save\s+my\s+name,\s+email,\s+and\s+website\s+in\s+this\s+browser\s+for\s+the\s+next\s+time\s+i\s+comment|
        share(?:\s+this(?:\s+article|\s+story)?)?|share\s+on\s+(?:facebook|twitter|x|whatsapp)|
        click\s+here\s+to\s+subscribe|subscribe\s+to\s+our\s+newsletter|
        real\s+time\s+analytics|skip\s+to\s+(?:main\s+)?content|
        image:.*|photo:.*|(?:image|photo)\s+credit:.*|
        (?:updated|published|posted|last\s+updated)(?:\s+on)?:?\s+.{4,60}|
        (?:reported|written|edited|compiled)\s+by:?\s+.{2,60}
    )[\s.!:]*$""",
    re.IGNORECASE | re.VERBOSE,
)

# Rule 4: a heading that starts a trailing widget, within the last few lines.
TRAILING_WIDGET_HEADINGS = re.compile(
    r"^(?:tags?|topics|related(?:\s+(?:articles|stories|posts|news))?|read\s+more|more\s+from\s+.+|"
    r"recommended(?:\s+for\s+you)?|you\s+may\s+also\s+like)\s*:?\s*$|^tags?\s*:\s*\S.*$",
    re.IGNORECASE,
)
TRAILING_WIDGET_WINDOW = 6  # lines from the end in which such a heading counts

# Rule 5.
SIGN_OFF = re.compile(r"^(?:reuter|reuters)$", re.IGNORECASE)
AGENCY_CREDIT = re.compile(r"^(?:afp|ap|reuters|getty\s+images|epa|ani|pti|ians|tass)$", re.IGNORECASE)

PHOTO_CREDIT = re.compile(r"\s*\b(?:photo(?:graph)?|image)\s*(?:by|:|credit:?)\s+[^.!?]{2,80}$", re.IGNORECASE)
SENTENCE_END = ("." , "!", "?", '"', "”", "’", "'", ")")

STAMP_LINE = re.compile(
    r"^(?:updated|published|posted|last\s+updated)(?:\s+on)?:?\s+(?P<date>.{4,60}?)\s*$", re.IGNORECASE
)

_SPACES = re.compile(r"[\u00a0\u2000-\u200a\u202f\u205f\u3000\t]+")
_ZERO_WIDTH = re.compile(r"[\u200b-\u200d\u2060\ufeff]")
# Control characters except tab and newline, lone surrogates and private-use characters.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ue000-\uf8ff]")
_MANY_SPACES = re.compile(r" {2,}")
_BULLET = re.compile(r"^\s*[•·▪●◦‣*-]\s+")


def normalise(text: str) -> str:
    """Rule 1: make whitespace and characters predictable, keeping line structure."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    text = _ZERO_WIDTH.sub("", text)
    return _CONTROL.sub("", text)


def looks_hard_wrapped(lines: list[str]) -> bool:
    """Newswire copy: most lines 40-80 columns and paragraphs opened by indentation."""
    filled = [line for line in lines if line.strip()]
    if len(filled) < 4:
        return False
    wrapped = sum(1 for line in filled if 35 <= len(line.rstrip()) <= 80)
    indented = sum(1 for line in filled[1:] if line.startswith(("  ", "\t")))
    return wrapped / len(filled) >= 0.6 and indented >= 1


def unwrap(lines: list[str]) -> list[str]:
    """Rule 2: join wrapped lines; an indented line or a blank line starts a paragraph."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if not line.strip():
            if current:
                paragraphs.append(" ".join(current))
                current = []
            paragraphs.append("")
            continue
        if line.startswith(("  ", "\t")) and current:
            paragraphs.append(" ".join(current))
            current = []
        current.append(line.strip())
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs


def is_boilerplate(line: str) -> bool:
    return bool(BOILERPLATE_LINES.match(line.strip()))


def cut_trailing_widget(lines: list[str]) -> list[str]:
    """Rule 4: drop a tag list or related-links block at the end."""
    filled = [index for index, line in enumerate(lines) if line.strip()]
    for index in filled[-TRAILING_WIDGET_WINDOW:]:
        if TRAILING_WIDGET_HEADINGS.match(lines[index].strip()):
            return lines[:index]
    return lines


def drop_sign_off(lines: list[str]) -> tuple[list[str], bool]:
    """Rule 5: returns the lines and whether a Reuters sign-off was found."""
    signed = False
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    if lines and SIGN_OFF.match(lines[-1].strip()):
        lines, signed = lines[:-1], True
    elif lines and AGENCY_CREDIT.match(lines[-1].strip()):
        lines = lines[:-1]
        while lines and not lines[-1].strip():
            lines = lines[:-1]
        if lines and not lines[-1].strip().endswith(SENTENCE_END):
            lines = lines[:-1]
    return lines, signed


def clean_lines(text: str) -> tuple[list[str], bool]:
    """Apply rules 1-5 and return the kept lines (blank lines mark paragraph breaks)."""
    lines = normalise(text).split("\n")
    lines = [_SPACES.sub(" ", line).rstrip() for line in lines]
    lines, signed = drop_sign_off(lines)
    if looks_hard_wrapped(lines):
        lines = unwrap(lines)
    lines = cut_trailing_widget(lines)
    kept = []
    for line in lines:
        stripped = _MANY_SPACES.sub(" ", line.strip())
        if stripped and is_boilerplate(stripped):
            continue
        stripped = PHOTO_CREDIT.sub("", stripped) if len(stripped) > 40 else stripped
        kept.append(_BULLET.sub("• ", stripped) if _BULLET.match(stripped) else stripped)
    lines, signed_again = drop_sign_off(kept)
    return lines, signed or signed_again


def join_paragraphs(lines: list[str]) -> str:
    """One paragraph per line in the output, separated by a blank line."""
    return "\n\n".join(line for line in lines if line.strip())


def clean_text(text: str) -> str:
    lines, _ = clean_lines(text)
    return join_paragraphs(lines)
