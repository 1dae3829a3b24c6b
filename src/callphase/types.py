"""The data model shared by every stage: transcript in the middle, phases out."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from .errors import PhaseSpecError


class Word(BaseModel):
    text: str
    start: float
    end: float
    probability: float | None = None


class Utterance(BaseModel):
    index: int
    start: float
    end: float
    text: str
    speaker: str | None = None
    channel: int | None = None
    words: list[Word] = Field(default_factory=list)

    def with_words(self, words: list[Word], **update: Any) -> Utterance:
        """This utterance cut down to `words` (a non-empty run of its own), times and text from them."""
        return self.model_copy(update={"words": words, "start": words[0].start, "end": max(words[-1].end, words[0].start),
                                       "text": " ".join(w.text for w in words).strip(), **update})


class NonSpeech(BaseModel):
    """A stretch with nobody speaking: "silence", or "sound" (hold music, IVR tones, noise)."""

    start: float
    end: float
    kind: str


class SpeakerStats(BaseModel):
    speaker: str
    role: str | None = None  # "agent" or "customer" when the role heuristic could tell
    talk_time: float  # seconds this speaker's words cover
    share: float  # of all talk time
    turns: int  # runs of consecutive utterances by this speaker
    interruptions: int  # utterances started while another speaker was still talking
    longest_monologue: float  # seconds of this speaker's longest turn


class CallMetrics(BaseModel):
    speakers: list[SpeakerStats] = Field(default_factory=list)
    talk_time: float = 0.0  # seconds in which someone speaks
    overlap_time: float = 0.0  # seconds in which two or more speak at once
    non_talk_time: float = 0.0  # duration minus talk time
    role_reason: str = ""  # why the role heuristic named the agent it did


class Transcript(BaseModel):
    duration: float
    language: str | None = None
    utterances: list[Utterance] = Field(default_factory=list)
    source: str = ""
    # "mono", "stereo" (one party per channel) or "" (captions)
    channels: str = ""
    non_speech: list[NonSpeech] = Field(default_factory=list)
    metrics: CallMetrics | None = None
    # How speakers were found, fallbacks taken, what was dropped (e.g. cross-talk from the other channel)
    notes: list[str] = Field(default_factory=list)


# A description is a line or a paragraph; every segmenter embeds it, and embedding time grows faster than
# its length (a 3,000-word description took 30 s), so longer ones are refused with this limit named.
MAX_DESCRIPTION_CHARS = 1000
MAX_NAME_CHARS = 100


class PhaseDef(BaseModel):
    name: str
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("phase name is empty")
        if len(v) > MAX_NAME_CHARS:
            raise ValueError(f"phase name {v[:40]!r}… is {len(v)} characters long; at most {MAX_NAME_CHARS}")
        return v

    @field_validator("description")
    @classmethod
    def _description_bounded(cls, v: str) -> str:
        if len(v) > MAX_DESCRIPTION_CHARS:
            raise ValueError(f"a phase description is {len(v)} characters long; at most {MAX_DESCRIPTION_CHARS} "
                             "(a line or two saying what the phase sounds like)")
        return v


class PhaseSpec(BaseModel):
    """The phases a user asks for. `other` labels whatever fits none of them."""

    phases: list[PhaseDef]
    ordered: bool = True
    # Every call passes through every phase: segmenters then avoid skipping one (measured: the demo call
    # found its Resolution phase with it; on STAR dialogues, which do skip phases, it hurt).
    require_all: bool = False
    other: str = "Other"
    # Names the recogniser should spell right in these calls (company, products): added to asr.keyterms.
    keyterms: list[str] = Field(default_factory=list)

    @field_validator("keyterms", mode="before")
    @classmethod
    def _keyterms(cls, v: Any) -> list[str]:
        from .asr import parse_keyterms
        from .errors import OptionsError

        try:
            return parse_keyterms(v)
        except OptionsError as e:
            raise ValueError(str(e)) from None

    @model_validator(mode="after")
    def _check(self) -> PhaseSpec:
        if not self.phases:
            raise ValueError("the phase list is empty")
        names = [p.name for p in self.phases]
        folded = [n.casefold() for n in names]
        dupes = sorted({n for n, f in zip(names, folded) if folded.count(f) > 1})
        if dupes:  # Introduction and introduction would be two phases nobody could tell apart in the output
            raise ValueError(f"phase names repeat (case does not count): {', '.join(dupes)}")
        if self.other.casefold() in folded:
            raise ValueError(f"'{names[folded.index(self.other.casefold())]}' is taken: '{self.other}' is reserved "
                             "for speech that fits no phase")
        return self

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.phases]

    @property
    def allowed(self) -> list[str]:
        return self.names + [self.other]

    @classmethod
    def parse(cls, value: Any, **kwargs: Any) -> PhaseSpec:
        """Build from "A,B,C", a list of names, or a list of {name, description} mappings."""
        if isinstance(value, PhaseSpec):
            if not kwargs:
                return value
            value = value.model_dump()
        if isinstance(value, str):
            value = [n for n in (s.strip() for s in value.split(",")) if n]
        if isinstance(value, dict) and "phases" in value:
            kwargs = {**{k: v for k, v in value.items() if k != "phases"}, **kwargs}
            value = value["phases"]
        if not isinstance(value, list):
            raise PhaseSpecError("phases must be a list of names or of {name, description} entries")
        defs = []
        for item in value:
            if isinstance(item, str):
                defs.append({"name": item})
            elif isinstance(item, dict) and "name" in item:
                defs.append(item)
            else:
                raise PhaseSpecError(f"phase entry {item!r} needs a 'name'")
        try:
            return cls(phases=defs, **kwargs)
        except ValueError as e:  # pydantic's ValidationError is a ValueError
            msgs = "; ".join(_where(err) + err["msg"].removeprefix("Value error, ") for err in e.errors()) \
                if hasattr(e, "errors") else str(e)
            raise PhaseSpecError(f"invalid phases: {msgs}") from None

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> PhaseSpec:
        """Read a YAML (.yaml/.yml) or JSON (.json) list of phases, or {phases: [...], ordered, require_all};
        `kwargs` (ordered, require_all, other) override what the file says."""
        path = Path(path)
        if path.is_dir():
            raise PhaseSpecError(f"phase file {path} is a folder, not a file")
        if not path.is_file():
            raise PhaseSpecError(f"phase file not found: {path}")
        suffix = path.suffix.lower()
        if suffix not in (".json", ".yaml", ".yml"):
            raise PhaseSpecError(f"unknown phase file format '{suffix or path.name}': use .yaml, .yml or .json")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise PhaseSpecError(f"phase file {path} is not UTF-8 text (byte {e.start})") from None
        if suffix == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as e:
                raise PhaseSpecError(f"cannot parse phase file {path}: {e}") from None
        else:
            import yaml

            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as e:
                raise PhaseSpecError(f"cannot parse phase file {path}: {str(e).splitlines()[0]}") from None
        if data is None:
            raise PhaseSpecError(f"phase file {path} is empty")
        return cls.parse(data, **kwargs)


def _where(err: dict) -> str:
    """'ordered: ' for an error in a spec field, 'phase 2 description: ' in a phase, '' for the spec."""
    loc = [str(x) for x in err.get("loc", ())]
    if len(loc) >= 2 and loc[0] == "phases" and loc[1].isdigit():
        return f"phase {int(loc[1]) + 1}{' ' + loc[2] if len(loc) > 2 else ''}: "
    return f"{loc[0]}: " if loc else ""


class Phase(BaseModel):
    """One phase of a call, or one chapter of a call split without phases (then `name` is its title)."""

    name: str
    start_time: float
    end_time: float
    summary: str = ""
    first_utterance: int | None = None
    last_utterance: int | None = None
    confidence: float | None = None


class Segmentation(BaseModel):
    phases: list[Phase]
    # "phases": the user's phases; "chapters": auto chapters (no phases given), each phase's name its title
    kind: Literal["phases", "chapters"] = "phases"
    method: str = ""
    # What the validator had to change in a backend's output, and any fallback taken (an LLM reply that
    # could not be used), so a result says how it was made.
    repairs: list[str] = Field(default_factory=list)
    summary_method: str = ""  # "extractive", or the LLM and prompt version that wrote the summaries
    llm_stats: dict[str, float] = Field(default_factory=dict)

    def to_json(self) -> dict:
        """Phases: exactly {"phases": [{"name", "start_time", "end_time", "summary"}]}; chapters:
        {"chapters": [{"title", "start_time", "end_time", "summary"}]}; times to 0.01 s."""
        key, name = ("phases", "name") if self.kind == "phases" else ("chapters", "title")
        return {key: [{name: p.name, "start_time": round(p.start_time, 2), "end_time": round(p.end_time, 2),
                       "summary": p.summary} for p in self.phases]}


class CallResult(BaseModel):
    transcript: Transcript
    segmentation: Segmentation
    timings: dict[str, float] = Field(default_factory=dict)
    # What the run noticed beyond the transcript's own notes and the segmentation's repairs, e.g. a phase
    # model that had no column for some phase and was not used.
    notes: list[str] = Field(default_factory=list)

    def to_json(self) -> dict:
        """The phases (or chapters) as `callphase segment` prints them: see Segmentation.to_json."""
        return self.segmentation.to_json()

    def to_seed_json(self) -> dict:
        """Exactly {"phases": [{"name", "start_time", "end_time", "summary"}]}, times to 0.01 s: the shape
        of the design callphase replaces. A chapters result has no phases: ValueError."""
        if self.segmentation.kind != "phases":
            raise ValueError("this result holds auto chapters (no phases were given): use to_json()")
        return self.to_json()
