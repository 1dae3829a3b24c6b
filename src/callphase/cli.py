"""Command line: `callphase segment | transcribe | demo | batch | eval | train | serve | llm-serve`. Each command maps its flags
to `Options` and hands the call to `callphase.analyze` (the one pipeline run; `transcribe` to its
transcript stage); it wires no stages itself. Results on stdout or in --out; progress, notes and errors on
stderr. Bad input: one `error:` line, with the flag that fixes it, and exit code 2."""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

import callphase

from . import __version__, outputs
from .errors import CallphaseError, PhaseSpecError
from .options import ASROptions, LLMOptions, Options, SegmenterOptions, SpeakerOptions, VADOptions

if TYPE_CHECKING:
    from .llm import DryRunLLM
    from .types import CallResult, PhaseSpec, Transcript
# the pipeline (numpy, PyAV, pydantic) is imported by the commands that run it, not for --help

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Split phone calls into phases, offline.")

EXIT_BAD_INPUT = 2


class Reporter:
    """Progress and messages on stderr: a rich progress bar, JSON lines (--json), or nothing (--quiet)."""

    def __init__(self, quiet: bool = False, json_logs: bool = False):
        self.quiet, self.json = quiet, json_logs
        self._progress = None
        self._tasks: dict[str, int] = {}
        self._last_emit = 0.0

    def __enter__(self) -> Reporter:
        # the library logs its waits (an LLM endpoint retrying, backing off): they show here as they happen
        self._handler = _ReporterLog(self)
        logging.getLogger("callphase").addHandler(self._handler)
        logging.getLogger("callphase").setLevel(logging.INFO)
        return self

    def __exit__(self, kind, error, trace) -> None:
        """The one place a command's errors become one `error:` line and exit code 2: every CallphaseError
        (with the flag that fixes it), and OS errors on the paths the user gave."""
        logging.getLogger("callphase").removeHandler(self._handler)
        if self._progress:
            self._progress.stop()
        if isinstance(error, (CallphaseError, OSError)):
            self.error(_message(error))
            raise typer.Exit(EXIT_BAD_INPUT) from None

    def event(self, event: str, **fields) -> None:
        if self.json:
            print(json.dumps({"event": event, **fields}), file=sys.stderr, flush=True)

    def progress(self, stage: str, done: float, total: float) -> None:
        if self._progress is None and not self.quiet and not self.json:
            # started on first use, so that an early error is one line with nothing around it
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
                TimeElapsedColumn(), console=Console(stderr=True), transient=True,
            )
            self._progress.start()
        if self._progress:
            if stage not in self._tasks:
                self._tasks[stage] = self._progress.add_task(stage, total=max(total, 1e-9))
            self._progress.update(self._tasks[stage], completed=done)
        elif self.json and (time.monotonic() - self._last_emit > 0.5 or done >= total):
            self._last_emit = time.monotonic()
            self.event("progress", stage=stage, done=round(done, 2), total=round(total, 2))

    def info(self, message: str) -> None:
        if self.json:
            self.event("info", message=message)
        elif self._progress is not None:  # above the live progress bar, which stays
            self._progress.console.print(message, markup=False, highlight=False, soft_wrap=True)
        elif not self.quiet:
            print(message, file=sys.stderr)

    def error(self, message: str) -> None:
        if self.json:
            self.event("error", message=message)
        else:
            print(f"error: {message}", file=sys.stderr)


# The option each library error names (CallphaseError.option), and the flag that sets it here.
FLAGS = {
    "asr.model": "--model", "asr.language": "--language", "asr.backend": "--asr", "asr.base_url": "--asr-base-url",
    "asr.keyterms": "--keyterms", "asr.device": "--device", "asr.compute_type": "--compute-type", "segmenter.name": "--segmenter",
    "segmenter.phase_model": "--phase-model", "llm.backend": "--llm", "llm.base_url": "--llm-base-url",
    "speakers.channel_names": "--channels", "speakers.mono": "--mono", "speakers.speakers": "--speakers",
    "out": "--out", "force": "--force", "server.api_key": "--api-key-env", "calls": "CALLS", "inputs": "INPUT",
    "batch.engine": "--engine", "batch.workers": "--workers", "batch.ray_address": "--ray-address",
    "batch.page_audio": "--page-audio",
}


class _ReporterLog(logging.Handler):
    def __init__(self, reporter: Reporter):
        super().__init__(logging.INFO)
        self.reporter = reporter

    def emit(self, record: logging.LogRecord) -> None:
        self.reporter.info(record.getMessage())


def _message(error: Exception) -> str:
    """A library error's message with the flag that fixes it; an OS error as reason and path."""
    if isinstance(error, OSError) and not isinstance(error, CallphaseError):
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror or error}{where}"
    flag = FLAGS.get(getattr(error, "option", None) or "")
    return f"{error} ({flag})" if flag else str(error)


def _fail(reporter: Reporter, error: CallphaseError | str) -> typer.Exit:
    """One error line for what the CLI itself finds wrong (a bad flag combination)."""
    reporter.error(_message(error) if isinstance(error, Exception) else error)
    return typer.Exit(EXIT_BAD_INPUT)


def _phase_spec(phases: str | None, phases_file: Path | None, **overrides) -> PhaseSpec | None:
    """The phases the flags give (None: none given, auto chapters); `overrides`: ordered, require_all, other."""
    from .types import PhaseSpec

    if phases is not None and phases_file is not None:
        raise PhaseSpecError("give --phases or --phases-file, not both")
    if phases_file is not None:
        return PhaseSpec.from_file(phases_file, **overrides)
    if phases is None:
        return None
    return PhaseSpec.parse(phases, **overrides)


def _spec_overrides(unordered: bool, require_all: bool, other: str | None) -> dict:
    """--unordered, --require-all and --other as PhaseSpec fields (only those given)."""
    return {k: v for k, v in (("ordered", False if unordered else None), ("require_all", True if require_all else None),
                              ("other", other.strip() if other else None)) if v is not None}


def _options(
    model: str = "base", language: str | None = None, beam_size: int | None = None, no_vad: bool = False,
    mono: bool = False, channels: str | None = None, speakers: int = 2, roles: bool = False,
    segmenter: str = "embedding", phase_model: str | None = "auto",
    llm: str | None = None, no_llm: bool = False, llm_base_url: str | None = None,
    asr: str | None = None, asr_base_url: str | None = None, keyterms: str | None = None,
    device: str = "cpu", compute_type: str = "int8",
) -> Options:
    """Flags -> Options: the only thing a command does before handing the call to the pipeline."""
    return Options(
        asr=ASROptions(backend=asr, base_url=asr_base_url, keyterms=keyterms, model=model, language=language,
                       beam_size=beam_size, device=device, compute_type=compute_type),
        vad=VADOptions(enabled=not no_vad),
        speakers=SpeakerOptions(mono=mono, channel_names=channels, speakers=speakers, roles=roles),
        segmenter=SegmenterOptions(name=segmenter, phase_model=phase_model),
        llm=LLMOptions(backend="none" if no_llm else llm, base_url=llm_base_url),
    )


def _api_key(variable: str | None) -> str | None:
    """The key in the environment variable --api-key-env names (None: no key asked for)."""
    if not variable:
        return None
    key = os.environ.get(variable)
    if not key:
        raise CallphaseError(f"--api-key-env {variable}: that variable is not set")
    return key


def _dry_run(llm: str | None) -> DryRunLLM:
    """--show-prompt: the requests carry the model name of --llm openai:MODEL."""
    from .llm import DryRunLLM

    spec = llm or os.environ.get("CALLPHASE_LLM") or ""
    return DryRunLLM(spec.partition(":")[2] if spec.startswith("openai:") else None)


def _write_outputs(call: Path, out: Path, transcript: Transcript, result: CallResult | None, reporter: Reporter,
                   page_audio: str = "link", other: str = "Other", audio: Path | None = None) -> None:
    """`audio`: the file the page plays, when not `call` itself (the demo's bundled call)."""
    src = outputs.page_audio(audio or call, out, page_audio) if result is not None else None
    files = outputs.result_files(call.stem, transcript, result, src, other)
    written = outputs.write(out, files, keep=call)
    for name in files:
        if out / name not in written:
            reporter.info(f"kept the input {out / name} as it is (not overwritten)")
    for path in written:
        reporter.event("wrote", path=str(path))
    reporter.info(f"wrote {len(written)} files to {out}")


def _report(reporter: Reporter, result: CallResult) -> None:
    """The run's notes on stderr: the transcript's and the run's as info, the validator's repairs as events
    (chapters' fallbacks as info: there is no phase list they repair)."""
    for note in result.transcript.notes + result.notes:
        reporter.info(note)
    for note in result.segmentation.repairs:
        if result.segmentation.kind == "chapters":
            reporter.info(note)
        else:
            reporter.event("repair", message=note)
    reporter.event("done", timings={k: round(v, 3) for k, v in result.timings.items()})


PhasesOpt = typer.Option(None, "--phases", help='comma-separated names, e.g. "Introduction,Complaint,Resolution,Goodbye"')
PhasesFileOpt = typer.Option(None, "--phases-file", help="YAML or JSON list of {name, description}")
UnorderedOpt = typer.Option(False, "--unordered", help="phases may come in any order and repeat")
OtherOpt = typer.Option(None, "--other", help="name for what fits no phase and for long non-speech (default Other; e.g. Hold)")
RequireAllOpt = typer.Option(False, "--require-all", help="every call passes through every phase")
SegmenterOpt = typer.Option("embedding", "--segmenter", help="embedding | llm | hybrid (llm and hybrid need an LLM)")
ModelOpt = typer.Option("base", "--model", help="local ASR model: tiny | base | a Hugging Face model name | a local CTranslate2 directory")
ASROpt = typer.Option(None, "--asr", help="speech recognition: local (default; faster-whisper here) | openai:MODEL (any OpenAI-compatible /v1/audio/transcriptions) | assemblyai[:SPEECH_MODEL] (AssemblyAI v2, or another callphase serve); default from $CALLPHASE_ASR")
ASRBaseURLOpt = typer.Option(None, "--asr-base-url", help="base URL of the --asr service, e.g. http://127.0.0.1:8000/v1 (openai:) or http://gpu-box:8000 (assemblyai); default $CALLPHASE_ASR_BASE_URL; key from $CALLPHASE_ASR_API_KEY, else $OPENAI_API_KEY / $ASSEMBLYAI_API_KEY")
KeytermsOpt = typer.Option(None, "--keyterms", help='names the recogniser should spell right, e.g. "Acme Telecom,premium subscription" (phase files may add a keyterms list)')
DeviceOpt = typer.Option("cpu", "--device", help="local ASR: cpu | cuda | auto")
ComputeTypeOpt = typer.Option("int8", "--compute-type", help="local ASR: CTranslate2 compute type (int8; float16 or int8_float16 on a GPU)")
LanguageOpt = typer.Option(None, "--language", help="spoken language code, e.g. en (default: detect)")
BeamOpt = typer.Option(None, "--beam-size", min=1, help="local ASR beam size (default: 5 for 8 kHz phone audio, 1 for wideband)")
OutOpt = typer.Option(None, "--out", help="write results into this directory instead of printing them")
ApiKeyEnvOpt = typer.Option(None, "--api-key-env", help="require the key in this environment variable")
ForceOpt = typer.Option(False, "--force", help="with --out: replace files there that callphase did not write (by default they are kept and the run stops before any work)")
QuietOpt = typer.Option(False, "--quiet", "-q", help="no progress output")
JsonOpt = typer.Option(False, "--json", help="progress and errors as JSON lines on stderr")
MonoOpt = typer.Option(False, "--mono", help="mix all channels into one (stereo calls are otherwise split by channel; needed for 3+ channels)")
ChannelsOpt = typer.Option(None, "--channels", help="names of the left and right channel of a stereo call, e.g. agent,customer (default A,B)")
SpeakersOpt = typer.Option(2, "--speakers", min=1, max=10, help="mono calls: diarize into this many speakers (1: no diarization)")
RolesOpt = typer.Option(False, "--roles", help="name the two speakers Agent and Customer by who greets and who asks (see transcript metrics.role_reason)")
PhaseModelOpt = typer.Option("auto", "--phase-model", help="auto (the bundled support model for Introduction, Complaint, Resolution, Goodbye and their aliases; similarity for other phases), support, star (STAR task dialogues), none (similarity only) or a .npz from `callphase train`")
NoVadOpt = typer.Option(False, "--no-vad", help="transcribe everything, also long silence and hold music (default: speech only, non-speech reported)")
LLMOpt = typer.Option(None, "--llm", help="auto (default: local if installed) | local | local:PATH.gguf | openai:MODEL | none; default from $CALLPHASE_LLM")
NoLLMOpt = typer.Option(False, "--no-llm", help="no language model: extractive summaries, keyword chapter titles")
BaseURLOpt = typer.Option(None, "--llm-base-url", help="OpenAI-compatible base URL for --llm openai:MODEL (default $CALLPHASE_LLM_BASE_URL or $OPENAI_BASE_URL); key from $CALLPHASE_LLM_API_KEY or $OPENAI_API_KEY")


@app.command()
def segment(
    call: Path = typer.Argument(..., help="audio file (mp3, wav, m4a, flac, ogg…) or captions (.vtt, .srt)"),
    phases: str | None = PhasesOpt,
    phases_file: Path | None = PhasesFileOpt,
    unordered: bool = UnorderedOpt,
    other: str | None = OtherOpt,
    require_all: bool = RequireAllOpt,
    phase_model: str | None = PhaseModelOpt,
    segmenter_name: str = SegmenterOpt,
    llm: str | None = LLMOpt,
    no_llm: bool = NoLLMOpt,
    llm_base_url: str | None = BaseURLOpt,
    show_prompt: bool = typer.Option(False, "--show-prompt", help="print the LLM requests this call would make, send nothing"),
    out: Path | None = OutOpt,
    force: bool = ForceOpt,
    page_audio: str = typer.Option("link", "--page-audio", help="the audio of CALL.html in --out: link (the input file, relative to the page), embed (inside the page) or none"),
    model: str = ModelOpt,
    asr: str | None = ASROpt,
    asr_base_url: str | None = ASRBaseURLOpt,
    keyterms: str | None = KeytermsOpt,
    device: str = DeviceOpt,
    compute_type: str = ComputeTypeOpt,
    language: str | None = LanguageOpt,
    beam_size: int | None = BeamOpt,
    mono: bool = MonoOpt,
    channels: str | None = ChannelsOpt,
    speakers: int = SpeakersOpt,
    roles: bool = RolesOpt,
    no_vad: bool = NoVadOpt,
    quiet: bool = QuietOpt,
    json_logs: bool = JsonOpt,
) -> None:
    """Split a call into phases: phases JSON on stdout, or phases/transcript/captions files in --out.
    With no --phases/--phases-file: auto chapters ({"chapters": [{title, start_time, end_time, summary}]})."""
    overrides = _spec_overrides(unordered, require_all, other)
    with Reporter(quiet, json_logs) as reporter:
        if page_audio not in outputs.PAGE_AUDIO:
            raise _fail(reporter, f"--page-audio must be {', '.join(outputs.PAGE_AUDIO)}, not {page_audio!r}")
        spec = _phase_spec(phases, phases_file, **overrides)
        options = _options(model, language, beam_size, no_vad, mono, channels, speakers, roles,
                           segmenter_name, phase_model, llm, no_llm, llm_base_url, asr=asr, asr_base_url=asr_base_url, keyterms=keyterms, device=device, compute_type=compute_type)
        dry = _dry_run(llm) if show_prompt else None
        if dry is not None:
            options.llm = LLMOptions(backend=dry)
        elif out is not None:  # before the work: a bad destination must not cost a transcription
            outputs.check(out, outputs.names(call.stem, "chapters" if spec is None else "phases"), force, keep=call)
        if spec is None:
            reporter.info("no phases given: splitting the call into chapters")
        result = callphase.analyze(call, spec, options, reporter.progress)
        _report(reporter, result)
        if dry is not None:
            print(json.dumps(dry.requests, indent=1, ensure_ascii=False))
        elif out is None:
            print(json.dumps(result.to_json(), indent=1, ensure_ascii=False))
        else:
            _write_outputs(call, out, result.transcript, result, reporter, page_audio, spec.other if spec else "Other")


@app.command()
def transcribe(
    call: Path = typer.Argument(..., help="audio file (or .vtt/.srt, converted)"),
    out: Path | None = OutOpt,
    force: bool = ForceOpt,
    model: str = ModelOpt,
    asr: str | None = ASROpt,
    asr_base_url: str | None = ASRBaseURLOpt,
    keyterms: str | None = KeytermsOpt,
    device: str = DeviceOpt,
    compute_type: str = ComputeTypeOpt,
    language: str | None = LanguageOpt,
    beam_size: int | None = BeamOpt,
    mono: bool = MonoOpt,
    channels: str | None = ChannelsOpt,
    speakers: int = SpeakersOpt,
    roles: bool = RolesOpt,
    no_vad: bool = NoVadOpt,
    quiet: bool = QuietOpt,
    json_logs: bool = JsonOpt,
) -> None:
    """Transcribe a call: transcript JSON on stdout, or transcript JSON, VTT and SRT in --out.
    Stereo calls are transcribed per channel (one speaker each); mono calls are diarized."""
    with Reporter(quiet, json_logs) as reporter:
        options = _options(model, language, beam_size, no_vad, mono, channels, speakers, roles, asr=asr, asr_base_url=asr_base_url, keyterms=keyterms, device=device, compute_type=compute_type)
        if out is not None:
            outputs.check(out, outputs.names(call.stem, None), force, keep=call)
        transcript = callphase.load_transcript(call, options, reporter.progress)
        for note in transcript.notes:
            reporter.info(note)
        if out is None:
            print(transcript.model_dump_json(indent=1))
        else:
            _write_outputs(call, out, transcript, None, reporter)


@app.command()
def demo(
    out: Path | None = OutOpt,
    force: bool = ForceOpt,
    model: str = ModelOpt,
    llm: str | None = LLMOpt,
    no_llm: bool = NoLLMOpt,
    llm_base_url: str | None = BaseURLOpt,
    phase_model: str | None = PhaseModelOpt,
    quiet: bool = QuietOpt,
    json_logs: bool = JsonOpt,
) -> None:
    """Segment the bundled demo call and compare with its true phase times (on stderr)."""
    from . import demo as bundled

    with Reporter(quiet, json_logs) as reporter:
        options = _options(model, "en", roles=True, phase_model=phase_model, llm=llm, no_llm=no_llm,
                           llm_base_url=llm_base_url)
        if out is not None:
            outputs.check(out, outputs.names("call", "phases"), force)
        with bundled.audio() as path:
            result = callphase.analyze(path, bundled.spec(), options, reporter.progress)
            _report(reporter, result)
            if not quiet and not json_logs:
                _demo_table(result, model, bundled.truth())
            if out is None:
                print(json.dumps(result.to_json(), indent=1, ensure_ascii=False))
            else:  # the bundled call lives in the package: its page carries the audio
                _write_outputs(Path("call.mp3"), out, result.transcript, result, reporter, "embed", audio=path)


def _demo_table(result: CallResult, model: str, truth: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    timings, seg = result.timings, result.segmentation
    table = Table(title=f"demo call ({result.transcript.duration:.0f} s, model {model}, {timings['transcribe']:.1f} s to "
                        f"transcribe; summaries: {seg.summary_method}, {timings['summarize']:.1f} s)")
    for column in ("phase", "found", "true"):
        table.add_column(column)
    gold = {p["name"]: p for p in truth["phases"]}
    for p in seg.phases:
        g = gold.get(p.name)
        true = f"{g['start_time']:.1f}-{g['end_time']:.1f}" if g else "-"
        table.add_row(p.name, f"{p.start_time:.1f}-{p.end_time:.1f}", true)
    Console(stderr=True).print(table)


@app.command()
def train(
    calls: list[Path] = typer.Argument(..., help="labelled calls: CALL.transcript.json whose utterances carry `phase`, "
                                                 "or captions / a transcript with the seed JSON beside it as CALL.phases.json"),
    out: Path = typer.Option(..., "--out", help="where to write the phase model (.npz), for --phase-model PATH"),
    force: bool = ForceOpt,
    quiet: bool = QuietOpt,
    json_logs: bool = JsonOpt,
) -> None:
    """Train a phase model on your own labelled calls (phases in the order they first appear)."""
    from .errors import CallphaseError

    with Reporter(quiet, json_logs) as reporter:
        if out.suffix != ".npz":
            raise CallphaseError(f"{out}: a phase model is written as .npz", option="out")
        if out.exists() and not force:
            raise CallphaseError(f"{out} exists: --force replaces it", option="out")
        if not out.parent.is_dir():
            raise CallphaseError(f"{out.parent} is not a folder", option="out")
        from .segment.training import train_files

        model, counts = train_files(calls)
        tmp = out.with_name(f".{out.stem}.tmp.npz")  # np.savez adds .npz to names without it
        model.save(tmp)
        tmp.replace(out)
        reporter.event("trained", out=str(out), calls=len(calls), phases=counts)
    print(json.dumps({"out": str(out), "calls": len(calls), "utterances_per_phase": counts}))


@app.command("eval")
def eval_(
    dataset: str = typer.Option("star-text", "--set", help="star-text (dialogues as text), star-spoken (rendered calls through ASR), star-chapters (auto chapters on joined dialogues), support-text or support-spoken (callphase's own support calls)"),
    split: str = typer.Option("both", "--split", help="dev, test or both"),
    limit: int | None = typer.Option(None, "--limit", min=1, help="at most this many calls per split (star-spoken: 40 unless given)"),
    phase_model: str | None = PhaseModelOpt,
    model: str = typer.Option("tiny", "--model", help="ASR model for star-spoken and support-spoken"),
    by_domain: bool = typer.Option(False, "--by-domain", help="a row per STAR domain too"),
    segmenter_name: str = typer.Option("embedding", "--segmenter", help="embedding | llm | hybrid"),
    llm: str | None = typer.Option(None, "--llm", help="LLM for --segmenter llm/hybrid: local | local:PATH.gguf | openai:MODEL"),
    llm_base_url: str | None = BaseURLOpt,
    star: Path | None = typer.Option(None, "--star", help="STAR jsonl (default: $CALLPHASE_STAR or ../shared/data/star_dev.jsonl)"),
    out: Path | None = typer.Option(None, "--out", help="write the full report (every call's scores) as JSON"),
    quiet: bool = QuietOpt,
    json_logs: bool = JsonOpt,
) -> None:
    """Score a segmenter on a labelled set: accuracy, boundary error, Pk, WindowDiff, validity, speed."""
    from .chapters import TopicSegmenter
    from .evaluation import support
    from .evaluation.datasets import chapter_items, spoken_items, text_items
    from .evaluation.runner import evaluate, evaluate_chapters
    from .evaluation.training import SPOKEN_EVAL_CALLS
    from .pipeline import make_llm, make_segmenter

    sets = ("star-text", "star-spoken", "star-chapters", "support-text", "support-spoken")
    with Reporter(quiet, json_logs) as reporter:
        if dataset not in sets or split not in ("dev", "test", "both"):
            raise _fail(reporter, f"--set must be {', '.join(sets)}; --split dev, test or both")
        reports = {}
        if dataset == "star-chapters":
            segmenter = TopicSegmenter()
        else:
            options = _options(segmenter=segmenter_name, phase_model=phase_model, llm=llm, llm_base_url=llm_base_url)
            backend = make_llm(options.llm) if segmenter_name != "embedding" else None
            segmenter = make_segmenter(options, backend)
        for part in ("dev", "test") if split == "both" else (split,):
            if dataset == "star-chapters":
                reports[part] = evaluate_chapters(chapter_items(part, limit, star), segmenter)
            else:
                if dataset == "star-text":
                    items = text_items(part, limit, star)
                elif dataset.startswith("support"):
                    items = support.text_items(part) if dataset == "support-text" else support.spoken_items(part, model)
                    items = items[:limit]
                else:
                    items = spoken_items(part, limit or SPOKEN_EVAL_CALLS, model, path=star)
                reports[part] = evaluate(items, segmenter, by_domain)
            reporter.event("evaluated", split=part, **reports[part]["overall"])
    name = segmenter.name + (f" + phase model {phase_model}" if phase_model not in (None, "none") else "")
    if dataset == "star-chapters":
        if not quiet and not json_logs:
            from rich.console import Console
            from rich.table import Table

            table = Table(title=f"{dataset}, {name}")
            for c in ("split", "calls", "Pk", "WindowDiff", "boundary MAE s", "chapters", "gold", "s/call"):
                table.add_column(c, justify="right")
            for part, r in reports.items():
                o = r["overall"]
                if o["calls"]:
                    table.add_row(part, str(o["calls"]), f"{o['pk']:.3f}", f"{o['window_diff']:.3f}", f"{o['boundary_mae']:.2f}",
                                  f"{o['chapters']:.2f}", f"{o['gold_chapters']:.2f}", f"{o['seconds_per_call']:.3f}")
            Console(stderr=True, width=140).print(table)
        if out is not None:
            out.write_text(json.dumps({"set": dataset, "segmenter": name, "reports": reports}, indent=1))
        print(json.dumps({"set": dataset, "segmenter": name, **{p: r["overall"] for p, r in reports.items()}}))
        return
    if not quiet and not json_logs:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{dataset}, segmenter {name}")
        columns = ["split", "calls", "utt acc", "time acc", "boundary MAE s", "Pk", "WindowDiff", "valid", "s/call", "s/5min"]
        for c in columns:
            table.add_column(c, justify="right")

        def row(label: str, o: dict) -> None:
            table.add_row(label, str(o["calls"]), f"{o['utterance_accuracy']:.3f}", f"{o['time_accuracy']:.3f}",
                          f"{o['boundary_mae']:.2f}", f"{o['pk']:.3f}", f"{o['window_diff']:.3f}",
                          f"{o['validity']:.0%}", f"{o['seconds_per_call']:.3f}", f"{o['seconds_per_5min']:.2f}")

        for part, report in reports.items():
            row(part, report["overall"])
            for domain, o in report.get("by_domain", {}).items():
                row(f"  {part}/{domain}", o)
        Console(stderr=True, width=140).print(table)
    summary = {part: r["overall"] for part, r in reports.items()}
    if out is not None:
        out.write_text(json.dumps({"set": dataset, "segmenter": name, "reports": reports}, indent=1))
    print(json.dumps({"set": dataset, "segmenter": name, **summary}))


@app.command()
def batch(
    inputs: list[str] = typer.Argument(..., help="recordings or captions, folders (walked recursively), text files (.txt/.list) with one path or URL per line, or http(s) URLs"),
    out: Path = typer.Option(..., "--out", help="folder for each call's results, the manifest (batch.sqlite3) and summary.csv"),
    phases: str | None = PhasesOpt,
    phases_file: Path | None = PhasesFileOpt,
    unordered: bool = UnorderedOpt,
    other: str | None = OtherOpt,
    require_all: bool = RequireAllOpt,
    workers: int = typer.Option(1, "--workers", min=1, help="worker processes (or Ray actors), each with its models loaded and 1 ASR thread"),
    engine: str = typer.Option("local", "--engine", help="local (worker processes on this machine) or ray"),
    ray_address: str | None = typer.Option(None, "--ray-address", help="with --engine ray: a running cluster (host:port or ray://host:10001); default: start a local one"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="run again the calls that failed in an earlier run (done ones are always skipped)"),
    page_audio: str = typer.Option("link", "--page-audio", help="the audio of each CALL.html: link, embed or none"),
    phase_model: str | None = PhaseModelOpt,
    segmenter_name: str = SegmenterOpt,
    llm: str | None = LLMOpt,
    no_llm: bool = NoLLMOpt,
    llm_base_url: str | None = BaseURLOpt,
    model: str = ModelOpt,
    asr: str | None = ASROpt,
    asr_base_url: str | None = ASRBaseURLOpt,
    keyterms: str | None = KeytermsOpt,
    device: str = DeviceOpt,
    compute_type: str = ComputeTypeOpt,
    language: str | None = LanguageOpt,
    beam_size: int | None = BeamOpt,
    mono: bool = MonoOpt,
    channels: str | None = ChannelsOpt,
    speakers: int = SpeakersOpt,
    roles: bool = RolesOpt,
    no_vad: bool = NoVadOpt,
    quiet: bool = QuietOpt,
    json_logs: bool = JsonOpt,
) -> None:
    """Run many calls: each call's results in --out, a manifest that makes reruns resume, summary.csv.
    Exit code 0 when every call is done, 1 when some failed (each with its message in the manifest)."""
    from . import batch as batches

    overrides = _spec_overrides(unordered, require_all, other)
    with Reporter(quiet, json_logs) as reporter:
        if engine not in batches.ENGINES:
            raise _fail(reporter, f"--engine must be {' or '.join(batches.ENGINES)}, not {engine!r}")
        if ray_address and engine != "ray":
            raise _fail(reporter, "--ray-address needs --engine ray")
        spec = _phase_spec(phases, phases_file, **overrides)
        options = _options(model, language, beam_size, no_vad, mono, channels, speakers, roles,
                           segmenter_name, phase_model, llm, no_llm, llm_base_url, asr=asr, asr_base_url=asr_base_url, keyterms=keyterms, device=device, compute_type=compute_type)
        bar = _BatchBar(reporter)
        try:
            summary = batches.run(inputs, out, spec, options, workers, engine, ray_address, retry_failed, page_audio,
                                  bar.event)
        finally:
            bar.stop()
        _batch_table(reporter, summary, out)
    if summary.count("failed"):
        raise typer.Exit(1)


class _BatchBar:
    """Calls done/failed, audio hours, real-time factor and ETA: a rich bar on stderr, or JSON lines."""

    def __init__(self, reporter: Reporter):
        self.reporter, self.bar, self.task = reporter, None, None

    def event(self, e: dict) -> None:
        r = self.reporter
        if r.json:
            r.event(**e)
            return
        if r.quiet:
            return
        if self.bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("calls"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[failed]} failed, {task.fields[hours]:.2f} h of audio, "
                                           "RTF {task.fields[rtf]}"), TextColumn("ETA"), TimeRemainingColumn(),
                                console=Console(stderr=True))
            self.bar.start()
            self.task = self.bar.add_task("calls", total=e["total"], failed=0, hours=0.0, rtf="-")
        if e["status"] == "failed":
            self.bar.console.print(f"failed: {e['source']}: {e['error']}", markup=False, highlight=False)
        elif e["status"] == "skipped":
            self.bar.console.print(f"skipped: {e['source']}: {e['error']}", markup=False, highlight=False)
        self.bar.update(self.task, completed=e["done"] + e["failed"] + e["skipped"], failed=e["failed"],
                        hours=e["audio_hours"], rtf=f"{e['rtf']:.3f}" if e["rtf"] is not None else "-")

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _batch_table(reporter: Reporter, summary, out: Path) -> None:
    counts = {s: summary.count(s) for s in ("done", "failed", "skipped")}
    if reporter.json:
        reporter.event("summary", **counts, calls=len(summary.calls), ran=summary.ran, wall_s=round(summary.wall, 2),
                       phases=summary.phases, csv=str(out / "summary.csv"))
        return
    if reporter.quiet:
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    hours = sum(r["duration"] or 0 for r in summary.calls if r["status"] == "done") / 3600
    console.print(f"{len(summary.calls)} calls: {counts['done']} done, {counts['failed']} failed, {counts['skipped']} "
                  f"skipped; {summary.ran} run now in {summary.wall:.1f} s; {hours:.2f} h of audio done", highlight=False)
    table = Table(title="Phases over the done calls")
    for column in ("phase", "calls", "share of calls", "mean duration"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for p in summary.phases:
        table.add_row(p["phase"], str(p["calls"]), f"{100 * p['share_of_calls']:.0f}%", f"{p['mean_duration']:.1f} s")
    if summary.phases:
        console.print(table)
    for r in summary.calls:
        if r["status"] in ("failed", "skipped"):
            console.print(f"{r['status']}: {r['source']}: {r['error']}", markup=False, highlight=False)
    console.print(f"per call: {out / 'summary.csv'}; per phase: {out / 'summary_phases.csv'}", highlight=False)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (other than loopback only with --api-key-env)"),
    port: int = typer.Option(8000, "--port"),
    api_key_env: str | None = ApiKeyEnvOpt,
    data: Path | None = typer.Option(None, "--data", help="uploads and jobs (default: ~/.local/share/callphase)"),
    workers: int = typer.Option(1, "--workers", min=1, max=32, help="transcription worker processes"),
    max_upload_mb: int = typer.Option(2048, "--max-upload-mb", min=1, help="larger uploads are refused with 413"),
    model: str = ModelOpt,
    device: str = DeviceOpt,
    compute_type: str = ComputeTypeOpt,
    allow_dir: list[Path] = typer.Option([], "--allow-dir", help="folders whose files may be given as file:// audio_url"),
    llm: str | None = typer.Option("none", "--llm", help="backend for /v1/chat/completions chats other than the phase request, and for its summaries: none (default) | local | local:PATH.gguf | openai:MODEL"),
    llm_base_url: str | None = BaseURLOpt,
) -> None:
    """Serve AssemblyAI-v2-shaped transcript jobs (upload, transcript, poll, vtt/srt) and the OpenAI-shaped chat
    step (the seed's phase request answered by callphase's validated segmenter) over callphase."""
    from .pipeline import make_llm
    from .server import run

    with Reporter() as reporter:
        key = _api_key(api_key_env)
        folder = data or Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "callphase"
        # made here, so that a bad --llm fails before the server starts
        options = LLMOptions(backend=make_llm(_options(llm=llm, llm_base_url=llm_base_url).llm) or "none")
        reporter.info(f"serving callphase at http://{host}:{port} (data in {folder}, {workers} worker(s)); Ctrl-C stops")
        if device != "cpu" or compute_type != "int8":  # a GPU box: a wrong device fails here, not in each job
            from .models import new_whisper

            new_whisper(model, 1, compute_type, device)  # loaded once and let go: the workers load their own
        run(host, port, folder, workers, key, max_upload_mb, model, allow_dir, options, device, compute_type)


@app.command("llm-serve")
def llm_serve(
    llm: str = typer.Option("local", "--llm", help="local | local:PATH.gguf | openai:MODEL (a proxy)"),
    llm_base_url: str | None = BaseURLOpt,
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    api_key_env: str | None = ApiKeyEnvOpt,
) -> None:
    """Serve an LLM backend as an OpenAI-compatible /v1/chat/completions endpoint."""
    from .llm.serve import serve
    from .pipeline import make_llm

    with Reporter() as reporter:
        backend = make_llm(_options(llm=llm, llm_base_url=llm_base_url).llm)
        if backend is None:
            raise CallphaseError("no LLM to serve: install callphase[llm] or give --llm")
        key = _api_key(api_key_env)
        server = serve(backend, host, port, key)
    h, p = server.server_address[:2]
    reporter.info(f"serving {backend.name} at http://{h}:{p}/v1 (chat/completions, models); Ctrl-C stops")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
