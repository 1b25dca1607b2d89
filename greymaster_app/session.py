"""The session document: the engineer's working state over one track (Qt-free).

A session holds the track, the model's proposal, the engineer's overrides, the stages' bypass
flags and the delivery target (loudness and true-peak ceiling). Every edit goes through a
method that records one undo step and then calls the subscribers; the GUI re-reads the session
after each call.

Choices:
- An override is the engineer's value for one parameter ("stage.name" → physical value). Setting
  a value equal to the proposal's clears the override. Overrides survive a new proposal
  (``set_proposal``): they are the engineer's decisions, also where the new proposal agrees.
- The limiter's ceiling knob and the target's ceiling are one value, ``ceiling_dbtp``: setting
  either sets both, ``params`` always carries it, and the proposal's own ceiling is not used (a
  master is made to the target's ceiling, as ``model.mastering.master_file`` does). The ceiling is
  therefore never an override: ``is_overridden`` is False for it and the resets leave it alone.
- Undo steps are snapshots (``Snapshot``) of overrides, bypass flags and target. ``set_value``
  with ``merge=True`` joins the previous step when that step was a ``set_value`` of the same key
  and nothing else happened since (no other edit, undo or redo), so a knob drag is one step: pass
  ``merge=False`` for a gesture's first edit and ``merge=True`` for the rest. A drag that ends
  where it started leaves no step.
- ``modified`` compares the document (snapshot, proposal, reference) with the one last saved, so
  undoing back to the saved state clears it.

Session file (JSON, schema 1)::

    {"schema": 1, "kind": "greymaster-session", "track": str, "reference": str | null,
     "target": {"lufs": float, "ceiling_dbtp": float}, "proposal": <params document>,
     "overrides": {"stage.name": float}, "enabled": {stage: bool}}

A preset is a params document (``ChainParams.to_json``), the file ``greymaster render --params``
reads. Files are written atomically (temporary file, then rename) and read strictly: a size limit,
no NaN or Infinity, no duplicate or unknown keys, every value checked; any problem is a
``SessionError`` naming it, and the current session is left as it was.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from model.audio_io import write_text
from model.errors import ExportError, ParamsError
from model.params import MAX_FILE_BYTES, STAGE_TITLES, STAGES, TABLE, ChainParams, spec
from model.targeting import TARGET_RANGE_LUFS, check_target

SCHEMA_VERSION = 1
KIND = "greymaster-session"
SESSION_KEYS = ("schema", "kind", "track", "reference", "target", "proposal", "overrides",
                "enabled")
TARGET_KEYS = ("lufs", "ceiling_dbtp")
CEILING_KEY = "limiter.ceiling_dbtp"
AUTOSAVE_NAME = "autosave.gmsession"
MAX_UNDO_STEPS = 1000
SAME_VALUE_TOLERANCE = 1e-9
"""A value within this fraction of its parameter's range of the proposal's counts as equal."""


class SessionError(ParamsError):
    """A session or preset file is malformed, or an edit names an unknown parameter or value."""


@dataclass(frozen=True)
class Snapshot:
    """The undoable state of a session (read-only mappings).

    Args:
        overrides: "stage.name" → physical value the engineer set (never the ceiling).
        enabled: stage → True when the stage runs, for every stage.
        target_lufs: integrated loudness the master is made to.
        ceiling_dbtp: true-peak ceiling of the master (also the limiter's ceiling).
    """

    overrides: Mapping[str, float]
    enabled: Mapping[str, bool]
    target_lufs: float
    ceiling_dbtp: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))
        object.__setattr__(self, "enabled", MappingProxyType(dict(self.enabled)))


@dataclass(frozen=True)
class _Step:
    """One undo (or redo) step: its menu text and the snapshot it goes back to."""

    text: str
    snapshot: Snapshot


class Session:
    """The engineer's working state over one track, with undo/redo, presets and session files.

    Args:
        track_path: the track being mastered (stored as an absolute path), or None before one is
            opened (such a session cannot be saved).
        proposal: the model's parameters for the track; the table's defaults when None.
        target_lufs, ceiling_dbtp: the delivery target; ``SessionError`` when out of range.
    """

    def __init__(self, track_path: str | Path | None = None, proposal: ChainParams | None = None,
                 target_lufs: float = -14.0, ceiling_dbtp: float = -1.0) -> None:
        target_lufs, ceiling_dbtp = _checked_target(target_lufs, ceiling_dbtp)
        self._track_path = Path(track_path).absolute() if track_path is not None else None
        self._proposal = proposal if proposal is not None else ChainParams()
        self._reference_path: Path | None = None
        self._state = Snapshot({}, self._proposal.enabled, target_lufs, ceiling_dbtp)
        self._undo: list[_Step] = []
        self._redo: list[_Step] = []
        self._merge_key: str | None = None
        """The key whose ``set_value`` made the last undo step, while it may still be joined."""
        self._callbacks: list[Callable[[], None]] = []
        self._saved: tuple[Any, ...] | None = self._document()
        self.path: Path | None = None
        """The file this session was last saved to or opened from (None: never saved)."""

    # --- reading ---------------------------------------------------------------------------

    @property
    def track_path(self) -> Path | None:
        return self._track_path

    @property
    def proposal(self) -> ChainParams:
        return self._proposal

    @property
    def reference_path(self) -> Path | None:
        """The reference track the proposal was made against (None: no reference)."""
        return self._reference_path

    @reference_path.setter
    def reference_path(self, path: str | Path | None) -> None:
        """Set the reference (not an undo step; re-analyse and ``set_proposal`` after it)."""
        reference = Path(path).absolute() if path is not None else None
        if reference != self._reference_path:
            self._reference_path = reference
            self._notify()

    @property
    def snapshot(self) -> Snapshot:
        """The current undoable state."""
        return self._state

    @property
    def params(self) -> ChainParams:
        """The proposal with the overrides, the bypass flags and the ceiling applied."""
        values = {stage: self._proposal.stage(stage) for stage in STAGES}
        for key, value in self._state.overrides.items():
            row = spec(key)
            values[row.stage][row.name] = value
        ceiling = spec(CEILING_KEY)
        values[ceiling.stage][ceiling.name] = self._state.ceiling_dbtp
        return ChainParams(values, dict(self._state.enabled), self._proposal.latent)

    @property
    def overrides(self) -> dict[str, float]:
        return dict(self._state.overrides)

    def is_overridden(self, key: str) -> bool:
        """True when the engineer set ``key`` (always False for the ceiling, see the module)."""
        spec(key)
        return key in self._state.overrides

    def enabled(self, stage: str) -> bool:
        _check_stage(stage)
        return self._state.enabled[stage]

    @property
    def target_lufs(self) -> float:
        return self._state.target_lufs

    @property
    def ceiling_dbtp(self) -> float:
        return self._state.ceiling_dbtp

    @property
    def modified(self) -> bool:
        """True when the session differs from the file it was last saved to or opened from."""
        return self._document() != self._saved

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_text(self) -> str:
        """What undo would take back, e.g. "Set Compressor threshold" ("" when nothing)."""
        return self._undo[-1].text if self._undo else ""

    @property
    def redo_text(self) -> str:
        return self._redo[-1].text if self._redo else ""

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every change (edits, undo/redo, proposal, saved flag)."""
        self._callbacks.append(callback)

    # --- editing -----------------------------------------------------------------------------

    def set_value(self, key: str, value: float, merge: bool = False) -> None:
        """Set one parameter (physical units); the ceiling sets the target's ceiling too.

        ``merge=True`` joins the previous step if it was a ``set_value`` of the same key (a drag;
        see the module docstring). ``SessionError``/``ParamsError`` for an unknown key or a value
        that is not a number in the parameter's range.
        """
        row = spec(key)
        value = _number(value, key)
        self._proposal.replace(key, value)
        if key == CEILING_KEY:
            state = dataclasses.replace(self._state, ceiling_dbtp=value)
        else:
            overrides = dict(self._state.overrides)
            proposed = self._proposal.values[row.stage][row.name]
            tolerance = SAME_VALUE_TOLERANCE * (row.maximum - row.minimum)
            if math.isclose(value, proposed, rel_tol=0.0, abs_tol=tolerance):
                overrides.pop(key, None)
            else:
                overrides[key] = value
            state = dataclasses.replace(self._state, overrides=overrides)
        self._change(f"Set {_label(key)}", state, merge_key=key, merge=merge)

    def reset(self, key: str) -> None:
        """Back to the proposal's value for ``key`` (one undo step; the ceiling is left alone)."""
        spec(key)
        overrides = {k: v for k, v in self._state.overrides.items() if k != key}
        self._change(f"Reset {_label(key)}", dataclasses.replace(self._state, overrides=overrides))

    def reset_stage(self, stage: str) -> None:
        """Every parameter of ``stage`` back to the proposal (the bypass flag stays)."""
        _check_stage(stage)
        overrides = {k: v for k, v in self._state.overrides.items()
                     if spec(k).stage != stage}
        self._change(f"Reset {STAGE_TITLES[stage]}",
                     dataclasses.replace(self._state, overrides=overrides))

    def reset_all(self) -> None:
        """Every parameter and bypass flag back to the proposal (the target stays)."""
        self._change("Reset all", dataclasses.replace(
            self._state, overrides={}, enabled=self._proposal.enabled))

    def set_enabled(self, stage: str, on: bool) -> None:
        """Switch a stage on or bypass it (one undo step)."""
        _check_stage(stage)
        enabled = {**self._state.enabled, stage: bool(on)}
        verb = "Enable" if on else "Bypass"
        self._change(f"{verb} {STAGE_TITLES[stage]}",
                     dataclasses.replace(self._state, enabled=enabled))

    def set_target(self, lufs: float, ceiling_dbtp: float) -> None:
        """Set the delivery target (validated by ``targeting.check_target``; one undo step)."""
        lufs, ceiling_dbtp = _checked_target(lufs, ceiling_dbtp)
        self._change("Set target", dataclasses.replace(
            self._state, target_lufs=lufs, ceiling_dbtp=ceiling_dbtp))

    def set_proposal(self, proposal: ChainParams, keep_overrides: bool = True) -> None:
        """Take a new proposal after (re-)analysis. Not an undo step: undo steps hold overrides,
        bypass flags and target, which stay meaningful over any proposal.

        ``keep_overrides=True`` keeps the overrides and bypass flags; ``False`` starts afresh
        from the proposal (no overrides, its bypass flags) and clears the undo history.
        """
        self._proposal = proposal
        if not keep_overrides:
            self._state = dataclasses.replace(self._state, overrides={},
                                              enabled=proposal.enabled)
            self._undo.clear()
            self._redo.clear()
        self._merge_key = None
        self._notify()

    def undo(self) -> bool:
        """Take back the last step; False when there is none."""
        return self._step(self._undo, self._redo)

    def redo(self) -> bool:
        """Do again the last step undone; False when there is none."""
        return self._step(self._redo, self._undo)

    def mark_saved(self) -> None:
        """Record the current document as saved (``modified`` becomes False)."""
        was_modified = self.modified
        self._saved = self._document()
        if was_modified:
            self._notify()

    # --- presets -----------------------------------------------------------------------------

    def save_preset(self, path: str | Path) -> Path:
        """Write ``params`` as a params file (``greymaster render --params`` reads it)."""
        return _write_json(self.params.to_json(), path, "preset", self._track_path)

    def load_preset(self, path: str | Path) -> None:
        """Set overrides, bypass flags and ceiling so that ``params`` equals the preset exactly
        (one undo step). ``SessionError`` naming the problem; the session is then unchanged."""
        path = Path(path)
        doc = _read_json(path, "preset")
        if isinstance(doc, dict) and doc.get("kind") == KIND:
            raise SessionError(f"{path} is a session file, not a preset: open it as a session")
        try:
            preset = ChainParams.from_json(doc)
        except ParamsError as exc:
            raise SessionError(f"preset {path}: {exc}") from None
        overrides = {}
        for row in TABLE:
            value = preset.values[row.stage][row.name]
            if row.key != CEILING_KEY and value != self._proposal.values[row.stage][row.name]:
                overrides[row.key] = value
        ceiling = spec(CEILING_KEY)
        state = Snapshot(overrides, preset.enabled, self._state.target_lufs,
                         preset.values[ceiling.stage][ceiling.name])
        self._change(f"Load preset {path.stem}", state)

    # --- session files -----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The session document (schema 1); ``SessionError`` when there is no track."""
        if self._track_path is None:
            raise SessionError("there is no track in this session: open a track before saving")
        return {
            "schema": SCHEMA_VERSION,
            "kind": KIND,
            "track": str(self._track_path),
            "reference": str(self._reference_path) if self._reference_path else None,
            "target": {"lufs": self._state.target_lufs,
                       "ceiling_dbtp": self._state.ceiling_dbtp},
            "proposal": self._proposal.to_json(),
            "overrides": {row.key: self._state.overrides[row.key] for row in TABLE
                          if row.key in self._state.overrides},
            "enabled": {stage: self._state.enabled[stage] for stage in STAGES},
        }

    @classmethod
    def from_json(cls, doc: Any, base_folder: str | Path | None = None) -> Session:
        """Validate a session document; relative paths in it are taken from ``base_folder``
        (default: the working folder). ``SessionError`` naming the first problem found."""
        if not isinstance(doc, dict):
            raise SessionError(f"a session must be a JSON object like {{\"kind\": \"{KIND}\", "
                               "...}}")
        if doc.get("kind") != KIND:
            raise SessionError(f"not a GreyMaster session: \"kind\" is {_short(doc.get('kind'))},"
                               f" not \"{KIND}\" (a params preset is loaded with Load preset)")
        schema = doc.get("schema")
        if type(schema) is not int or schema != SCHEMA_VERSION:
            raise SessionError(f"session schema {_short(schema)} is not supported (this version "
                               f"reads schema {SCHEMA_VERSION})")
        _check_keys(doc, SESSION_KEYS, "the session")
        folder = Path(base_folder) if base_folder is not None else Path.cwd()
        track = _path_entry(doc["track"], "track", folder)
        reference = None if doc["reference"] is None else _path_entry(doc["reference"],
                                                                      "reference", folder)
        target = doc["target"]
        if not isinstance(target, dict):
            raise SessionError("\"target\" must be an object like {\"lufs\": -14, "
                               "\"ceiling_dbtp\": -1}")
        _check_keys(target, TARGET_KEYS, "\"target\"")
        lufs = _number(target["lufs"], "target.lufs")
        ceiling_dbtp = _number(target["ceiling_dbtp"], "target.ceiling_dbtp")
        try:
            proposal = ChainParams.from_json(doc["proposal"])
        except ParamsError as exc:
            raise SessionError(f"proposal: {exc}") from None
        session = cls(track, proposal, lufs, ceiling_dbtp)
        session._reference_path = reference
        session._state = Snapshot(_overrides_entry(doc["overrides"], proposal),
                                  _enabled_entry(doc["enabled"], proposal), lufs, ceiling_dbtp)
        session._saved = session._document()
        return session

    def save(self, path: str | Path) -> Path:
        """Write the session file atomically; it becomes ``path`` and is no longer modified."""
        written = _write_json(self.to_json(), path, "session", self._track_path)
        self.path = written
        self.mark_saved()
        return written

    @classmethod
    def open(cls, path: str | Path) -> Session:
        """Read a session file; ``SessionError`` naming the problem, or the missing track."""
        path = Path(path)
        doc = _read_json(path, "session")
        try:
            session = cls.from_json(doc, base_folder=path.absolute().parent)
        except ParamsError as exc:
            raise SessionError(f"session file {path}: {exc}") from None
        if not session.track_path.is_file():
            raise SessionError(f"session file {path}: its track {session.track_path} is missing"
                               " (put the file back, or edit \"track\" in the session file)")
        session.path = path
        return session

    # --- autosave and crash recovery ---------------------------------------------------------

    def autosave(self, folder: str | Path) -> Path:
        """Write the session to ``folder``'s autosave file (created if needed); ``modified`` and
        ``path`` are unchanged. One autosave file per folder."""
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"cannot create the autosave folder {folder}: "
                              f"{exc.strerror or exc}") from None
        return _write_json(self.to_json(), folder / AUTOSAVE_NAME, "autosave", self._track_path)

    @staticmethod
    def find_autosave(folder: str | Path) -> Path | None:
        """The autosave file in ``folder`` left by a session that did not end, or None."""
        path = Path(folder) / AUTOSAVE_NAME
        return path if path.is_file() else None

    @staticmethod
    def discard_autosave(folder: str | Path) -> None:
        """Remove ``folder``'s autosave file (call it after a save or a clean exit)."""
        path = Path(folder) / AUTOSAVE_NAME
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise ExportError(f"cannot remove the autosave file {path}: "
                              f"{exc.strerror or exc}") from None

    @classmethod
    def recover(cls, autosave_path: str | Path) -> Session:
        """Open an autosave file as unsaved work: ``modified`` is True and ``path`` is None."""
        session = cls.open(autosave_path)
        session.path = None
        session._saved = None
        return session

    # --- internals ---------------------------------------------------------------------------

    def _document(self) -> tuple[Any, ...]:
        return (self._state, self._proposal, self._reference_path)

    def _notify(self) -> None:
        for callback in list(self._callbacks):
            callback()

    def _change(self, text: str, state: Snapshot, merge_key: str | None = None,
                merge: bool = False) -> None:
        """Make ``state`` current as a new undo step, or as part of the previous one when
        ``merge`` and that step was made by ``set_value`` of ``merge_key``."""
        joining = merge and merge_key is not None and merge_key == self._merge_key
        self._merge_key = None
        if state == self._state:
            if joining:
                self._merge_key = merge_key
            return
        if not joining:
            self._undo.append(_Step(text, self._state))
            del self._undo[:-MAX_UNDO_STEPS]
            self._redo.clear()
        if joining and state == self._undo[-1].snapshot:
            self._undo.pop()
        else:
            self._merge_key = merge_key
        self._state = state
        self._notify()

    def _step(self, source: list[_Step], target: list[_Step]) -> bool:
        self._merge_key = None
        if not source:
            return False
        step = source.pop()
        target.append(_Step(step.text, self._state))
        self._state = step.snapshot
        self._notify()
        return True


def _label(key: str) -> str:
    """The stage title and the name without its unit suffix: "compressor.threshold_db" →
    "Compressor threshold"."""
    row = spec(key)
    name = row.name
    suffix = f"_{row.unit.lower()}"
    if row.unit and name.endswith(suffix):
        name = name[:-len(suffix)]
    return f"{STAGE_TITLES[row.stage]} {name.replace('_', ' ')}"


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise SessionError(f"unknown stage {_short(stage)} (stages: {', '.join(STAGES)})")


def _short(value: Any) -> str:
    """``repr`` cut to 40 characters, for messages about hostile input."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _number(value: Any, where: str) -> float:
    """A finite float from a JSON or GUI number; ``SessionError`` naming ``where`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SessionError(f"{where} must be a number, got {_short(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise SessionError(f"{where} must be a finite number, got {_short(value)}")
    return number


def _checked_target(lufs: Any, ceiling_dbtp: Any) -> tuple[float, float]:
    lufs = _number(lufs, "target loudness")
    ceiling_dbtp = _number(ceiling_dbtp, "ceiling")
    try:
        check_target(lufs, ceiling_dbtp)
    except ParamsError:
        low, high = TARGET_RANGE_LUFS
        raise SessionError(
            f"target {lufs:g} LUFS / {ceiling_dbtp:g} dBTP is out of range (loudness {low:g} … "
            f"{high:g} LUFS, ceiling {spec(CEILING_KEY).range_text()})") from None
    return lufs, ceiling_dbtp


def _check_keys(doc: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    """Exactly ``keys`` in ``doc``: the first unknown or missing one is named."""
    for key in doc:
        if key not in keys:
            raise SessionError(f"unknown key {_short(key)} in {where} (it has: "
                               f"{', '.join(keys)})")
    for key in keys:
        if key not in doc:
            raise SessionError(f"{where} has no \"{key}\" entry")


def _path_entry(value: Any, where: str, folder: Path) -> Path:
    if not isinstance(value, str) or not value or "\0" in value:
        raise SessionError(f"\"{where}\" must be the path of a file, got {_short(value)}")
    return folder / value


def _overrides_entry(value: Any, proposal: ChainParams) -> dict[str, float]:
    if not isinstance(value, dict):
        raise SessionError("\"overrides\" must be an object of \"stage.name\": value")
    overrides = {}
    for key, number in value.items():
        if key == CEILING_KEY:
            raise SessionError(f"overrides: {CEILING_KEY} is not an override (the ceiling is "
                               "\"target.ceiling_dbtp\")")
        try:
            spec(key)
        except ParamsError:
            raise SessionError(f"overrides: unknown parameter {_short(key)} "
                               "(see `greymaster params` for the list)") from None
        overrides[key] = _number(number, f"overrides.{key}")
        try:
            proposal.replace(key, overrides[key])
        except ParamsError as exc:
            raise SessionError(f"overrides: {exc}") from None
    return overrides


def _enabled_entry(value: Any, proposal: ChainParams) -> dict[str, bool]:
    """Bypass flags; a stage the file does not mention keeps the proposal's flag."""
    if not isinstance(value, dict):
        raise SessionError("\"enabled\" must be an object of stage: true or false")
    enabled = dict(proposal.enabled)
    for stage, flag in value.items():
        if stage not in STAGES:
            raise SessionError(f"enabled: unknown stage {_short(stage)} "
                               f"(stages: {', '.join(STAGES)})")
        if not isinstance(flag, bool):
            raise SessionError(f"enabled.{stage} must be true or false, got {_short(flag)}")
        enabled[stage] = flag
    return enabled


def _reject_constant(name: str) -> None:
    raise SessionError(f"{name} is not a number a session or preset can hold")


def _parse_int(text: str) -> int | float:
    """JSON integers; one too long for a float's range becomes infinity (refused later)."""
    return int(text) if len(text) <= 20 else float(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc:
            raise SessionError(f"key {_short(key)} appears twice in one object")
        doc[key] = value
    return doc


def _read_json(path: Path, what: str) -> Any:
    """Parse a session or preset file, refusing anything that is not a small JSON document."""
    try:
        if not path.is_file():
            if path.exists():
                raise SessionError(f"{what} {path} is not a file")
            raise SessionError(f"{what} file not found: {path}")
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SessionError(f"cannot read {what} file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise SessionError(f"{what} file {path} is too large (over {MAX_FILE_BYTES} bytes): "
                           f"not a {what} file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SessionError(f"{what} file {path} is not UTF-8 text: not a {what} file") from None
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int,
                          object_pairs_hook=_unique_keys)
    except SessionError as exc:
        raise SessionError(f"{what} file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SessionError(f"{what} file {path} is not valid JSON (line {exc.lineno}, column "
                           f"{exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise SessionError(f"{what} file {path} is nested too deeply to be a {what} "
                           "file") from None


def _write_json(doc: dict[str, Any], path: str | Path, what: str,
                track_path: Path | None) -> Path:
    """Write ``doc`` atomically (``audio_io.write_text``)."""
    path = Path(path)
    folder = path.parent
    if track_path is not None and path.absolute() == track_path:
        raise ExportError(f"cannot save the {what} as {path}: that is the track itself; "
                          "choose another name")
    if not folder.is_dir():
        raise ExportError(f"cannot save the {what}: folder {folder} does not exist")
    return write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", path)
