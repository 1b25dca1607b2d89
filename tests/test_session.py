"""The session document: overrides, undo/redo, presets, session files, autosave, hostile files."""

import json
import os

import numpy as np
import pytest

from greymaster_app import cli
from greymaster_app.session import (
    AUTOSAVE_NAME,
    CEILING_KEY,
    Session,
    SessionError,
)
from model.errors import ExportError, ParamsError
from model.params import MAX_FILE_BYTES, STAGES, TABLE, ChainParams, spec, stage_specs

EDITABLE_KEYS = [row.key for row in TABLE if row.key != CEILING_KEY]


@pytest.fixture
def proposal() -> ChainParams:
    """A proposal away from the table's defaults, with one stage bypassed and its own ceiling."""
    return (ChainParams()
            .replace("compressor.threshold_db", -24.0)
            .replace("eq.peak1_gain_db", 2.0)
            .replace(CEILING_KEY, -2.0)
            .with_enabled("saturation", False))


@pytest.fixture
def track(tmp_path):
    """A track file in a folder whose names have spaces and non-ASCII letters."""
    folder = tmp_path / "Mës mixes"
    folder.mkdir()
    path = folder / "Sóng 1 (final).wav"
    path.write_bytes(b"RIFF")
    return path


@pytest.fixture
def session(track, proposal) -> Session:
    return Session(track, proposal, target_lufs=-12.0, ceiling_dbtp=-1.0)


def expected_params(proposal: ChainParams, values: dict[str, float], ceiling_dbtp: float,
                    enabled: dict[str, bool]) -> ChainParams:
    """The definition of ``Session.params``, built with ChainParams.replace/with_enabled."""
    params = proposal.replace(CEILING_KEY, ceiling_dbtp)
    for key, value in values.items():
        params = params.replace(key, value)
    for stage, on in enabled.items():
        params = params.with_enabled(stage, on)
    return params


def test_a_new_session_is_the_proposal_at_the_target_ceiling(session, proposal):
    assert session.params == proposal.replace(CEILING_KEY, -1.0)
    assert session.overrides == {}
    assert not session.modified and not session.can_undo and not session.can_redo
    assert [session.enabled(stage) for stage in STAGES] == [proposal.enabled[s] for s in STAGES]
    assert Session().params == ChainParams().replace(CEILING_KEY, -1.0)


def test_params_follow_chain_params_replace_over_random_edits(session, proposal):
    rng = np.random.default_rng(7)
    values: dict[str, float] = {}
    for _ in range(200):
        row = spec(EDITABLE_KEYS[rng.integers(len(EDITABLE_KEYS))])
        value = float(row.from_unit(rng.random()))
        session.set_value(row.key, value)
        values[row.key] = value
    ceiling = -0.5
    session.set_value(CEILING_KEY, ceiling)
    assert session.params == expected_params(proposal, values, ceiling, dict(proposal.enabled))
    assert session.overrides == {k: v for k, v in values.items()
                                 if v != proposal.values[spec(k).stage][spec(k).name]}


def test_a_value_equal_to_the_proposal_clears_the_override(session, proposal):
    session.set_value("compressor.ratio", 4.0)
    assert session.is_overridden("compressor.ratio")
    session.set_value("compressor.ratio", proposal.values["compressor"]["ratio"] * (1 + 1e-12))
    assert not session.is_overridden("compressor.ratio")
    assert session.params.values["compressor"]["ratio"] == proposal.values["compressor"]["ratio"]


def test_the_ceiling_knob_and_the_target_ceiling_are_one_value(session, proposal):
    session.set_value(CEILING_KEY, -0.3)
    assert session.ceiling_dbtp == -0.3
    assert session.params.values["limiter"]["ceiling_dbtp"] == -0.3
    assert not session.is_overridden(CEILING_KEY)
    session.set_target(-16.0, -2.5)
    assert (session.target_lufs, session.ceiling_dbtp) == (-16.0, -2.5)
    assert session.params.values["limiter"]["ceiling_dbtp"] == -2.5
    session.reset_all()
    assert session.ceiling_dbtp == -2.5


def test_a_fifty_step_drag_is_one_undo_step(session, proposal):
    before = session.params
    for i, value in enumerate(np.linspace(-30.0, -10.0, 50)):
        session.set_value("compressor.threshold_db", float(value), merge=i > 0)
    session.set_value("compressor.threshold_db", -10.0, merge=True)  # the release
    assert session.params.values["compressor"]["threshold_db"] == -10.0
    assert session.undo_text == "Set Compressor threshold"
    assert session.undo()
    assert session.params == before
    assert not session.can_undo
    assert session.redo()
    assert session.params.values["compressor"]["threshold_db"] == -10.0


def test_merge_joins_only_the_previous_step_of_the_same_key(session, proposal):
    def drag(key, values):
        for i, value in enumerate(values):
            session.set_value(key, value, merge=i > 0)

    drag("compressor.threshold_db", [-30.0, -31.0, -32.0])
    drag("compressor.threshold_db", [-20.0, -21.0])  # a new gesture on the same knob
    session.set_value("compressor.ratio", 3.0, merge=True)  # another knob: a step of its own
    session.set_value("compressor.ratio", 3.5, merge=True)
    session.undo()
    assert session.params.values["compressor"]["ratio"] == proposal.values["compressor"]["ratio"]
    session.set_value("compressor.ratio", 4.0, merge=True)  # after an undo: a new step
    session.undo()
    assert session.params.values["compressor"]["ratio"] == proposal.values["compressor"]["ratio"]
    assert session.params.values["compressor"]["threshold_db"] == -21.0
    session.undo()
    assert session.params.values["compressor"]["threshold_db"] == -32.0
    session.undo()
    assert session.params == proposal.replace(CEILING_KEY, -1.0)


def test_a_drag_back_to_where_it_started_leaves_no_step(session):
    session.set_enabled("eq", False)
    for i, value in enumerate((-30.0, -35.0, -24.0)):
        session.set_value("compressor.threshold_db", value, merge=i > 0)
    assert session.undo_text == "Bypass Parametric EQ"
    session.set_value("compressor.threshold_db", -28.0, merge=True)
    assert session.undo_text == "Set Compressor threshold"
    session.undo()
    assert session.undo_text == "Bypass Parametric EQ"


def _edit_value(s):
    s.set_value("stereo.width", 1.5)


def _reset_key(s):
    s.reset("compressor.threshold_db")


def _reset_stage(s):
    s.reset_stage("compressor")


def _enable(s):
    s.set_enabled("saturation", True)


def _target(s):
    s.set_target(-9.0, -0.5)


def _load_preset(s, folder):
    preset = ChainParams().replace("saturation.drive_db", 9.0).with_enabled("eq", False)
    (folder / "warm tape.json").write_text(json.dumps(preset.to_json()))
    s.load_preset(folder / "warm tape.json")


@pytest.mark.parametrize(("change", "text"), [
    (_edit_value, "Set Stereo imager width"),
    (_reset_key, "Reset Compressor threshold"),
    (_reset_stage, "Reset Compressor"),
    (Session.reset_all, "Reset all"),
    (_enable, "Enable Saturation"),
    (_target, "Set target"),
    (_load_preset, "Load preset warm tape"),
])
def test_every_kind_of_change_undoes_and_redoes(session, tmp_path, change, text):
    session.set_value("compressor.threshold_db", -30.0)
    session.set_value("compressor.attack_ms", 1.0)
    session.set_enabled("eq", False)
    before = session.snapshot
    calls = []
    session.subscribe(lambda: calls.append(session.snapshot))
    if change is _load_preset:
        change(session, tmp_path)
    else:
        change(session)
    after = session.snapshot
    assert after != before and calls == [after]
    assert (session.undo_text, session.redo_text) == (text, "")
    assert session.undo() and session.snapshot == before
    assert session.redo_text == text
    assert session.redo() and session.snapshot == after
    assert calls == [after, before, after]


def test_resets_go_back_to_the_proposal(session, proposal):
    session.set_value("compressor.threshold_db", -30.0)
    session.set_value("compressor.ratio", 8.0)
    session.set_value("eq.peak2_gain_db", -3.0)
    session.set_enabled("limiter", False)
    session.reset("compressor.ratio")
    assert session.overrides == {"compressor.threshold_db": -30.0, "eq.peak2_gain_db": -3.0}
    session.reset_stage("compressor")
    assert session.overrides == {"eq.peak2_gain_db": -3.0}
    assert not session.enabled("limiter")
    session.reset_all()
    assert session.params == proposal.replace(CEILING_KEY, -1.0)


def test_a_new_edit_clears_redo_and_nothing_left_returns_false(session):
    session.set_value("stereo.width", 1.2)
    session.undo()
    assert session.can_redo
    session.set_value("stereo.width", 0.8)
    assert not session.can_redo and not session.redo()
    assert session.undo() and not session.undo()


def test_no_op_edits_make_no_step_and_no_call(session, proposal):
    calls = []
    session.subscribe(lambda: calls.append(1))
    session.set_value("compressor.threshold_db", proposal.values["compressor"]["threshold_db"])
    session.set_enabled("eq", True)
    session.reset_all()
    session.set_target(session.target_lufs, session.ceiling_dbtp)
    assert calls == [] and not session.can_undo and not session.modified


@pytest.mark.parametrize(("call", "message"), [
    (lambda s: s.set_value("compressor.ratios", 2.0), "unknown parameter 'compressor.ratios'"),
    (lambda s: s.set_value("compressor.ratio", 40.0), "compressor.ratio = 40.0 is outside"),
    (lambda s: s.set_value("compressor.ratio", "4"), "compressor.ratio must be a number"),
    (lambda s: s.set_value("compressor.ratio", float("nan")), "must be a finite number"),
    (lambda s: s.set_value(CEILING_KEY, 0.5), "limiter.ceiling_dbtp = 0.5 is outside"),
    (lambda s: s.set_enabled("reverb", True), "unknown stage 'reverb'"),
    (lambda s: s.reset_stage("reverb"), "unknown stage 'reverb'"),
    (lambda s: s.set_target(-80.0, -1.0), "target -80 LUFS / -1 dBTP is out of range"),
    (lambda s: s.set_target(-14.0, 0.0), "ceiling -3 … -0.1 dBTP"),
])
def test_bad_edits_are_refused_and_change_nothing(session, call, message):
    session.set_value("stereo.width", 1.2)
    before = (session.snapshot, session.undo_text, session.can_redo)
    with pytest.raises(ParamsError, match=message.replace(".", r"\.")):
        call(session)
    assert (session.snapshot, session.undo_text, session.can_redo) == before


def test_modified_follows_saves_and_undo(session, tmp_path):
    session.set_value("stereo.width", 1.3)
    assert session.modified
    session.undo()
    assert not session.modified
    session.set_value("stereo.width", 1.4)
    session.save(tmp_path / "s.json")
    assert not session.modified and session.path == tmp_path / "s.json"
    session.undo()
    assert session.modified
    session.redo()
    assert not session.modified
    session.set_proposal(ChainParams())
    assert session.modified


def test_set_proposal_keeps_overrides_and_is_not_an_undo_step(session, proposal):
    session.set_value("compressor.ratio", 6.0)
    session.set_enabled("eq", False)
    new = ChainParams().replace("compressor.ratio", 6.0).replace("stereo.width", 1.4)
    session.set_proposal(new)
    assert session.proposal == new
    assert session.is_overridden("compressor.ratio")  # the engineer's value, kept
    assert session.params == expected_params(new, {"compressor.ratio": 6.0}, -1.0,
                                             {"eq": False, "saturation": False})
    assert session.undo_text == "Bypass Parametric EQ"
    session.undo()
    session.set_proposal(proposal, keep_overrides=False)
    assert session.params == proposal.replace(CEILING_KEY, -1.0)
    assert not session.can_undo and not session.can_redo


def test_a_saved_preset_is_a_params_file_the_cli_reads(session, tmp_path):
    session.set_value("compressor.ratio", 5.0)
    session.set_enabled("stereo", False)
    session.set_target(-14.0, -0.7)
    path = session.save_preset(tmp_path / "my preset.json")
    assert ChainParams.load(path) == session.params
    assert ChainParams.from_json(json.loads(path.read_text())) == session.params


def test_a_cli_template_loads_as_a_preset_exactly(session, tmp_path, capsys):
    assert cli.main(["params", "--template"]) == 0
    doc = json.loads(capsys.readouterr().out)
    doc["compressor"]["ratio"] = 3.5
    doc["limiter"]["ceiling_dbtp"] = -0.8
    doc["stereo"]["enabled"] = False
    (tmp_path / "t.json").write_text(json.dumps(doc))
    session.set_value("eq.peak3_gain_db", 4.0)
    before = session.snapshot
    session.load_preset(tmp_path / "t.json")
    assert session.params == ChainParams.from_json(doc)
    assert session.ceiling_dbtp == -0.8 and session.target_lufs == -12.0
    session.undo()
    assert session.snapshot == before


def test_session_json_round_trip(session, tmp_path):
    session.set_value("compressor.ratio", 5.0)
    session.set_value(CEILING_KEY, -0.4)
    session.set_enabled("eq", False)
    session.reference_path = tmp_path / "réf track.flac"
    doc = json.loads(json.dumps(session.to_json()))
    assert doc["kind"] == "greymaster-session" and doc["schema"] == 1
    assert doc["overrides"] == {"compressor.ratio": 5.0}
    assert doc["target"] == {"lufs": -12.0, "ceiling_dbtp": -0.4}
    again = Session.from_json(doc)
    assert again.snapshot == session.snapshot
    assert again.proposal == session.proposal
    assert (again.track_path, again.reference_path) == (session.track_path,
                                                        session.reference_path)
    assert again.params == session.params
    assert not again.modified and not again.can_undo


def test_save_and_open_through_unicode_paths(session, track):
    session.set_value("saturation.drive_db", 7.5)
    path = session.save(track.parent / "Sóng 1 session.json")
    opened = Session.open(path)
    assert opened.params == session.params and opened.track_path == track
    assert opened.path == path and not opened.modified
    assert [p.name for p in track.parent.iterdir() if p.name.endswith(".partial")] == []


def test_a_relative_track_is_found_beside_the_session_file(session, track):
    doc = session.to_json()
    doc["track"] = track.name
    path = track.parent / "relative.json"
    path.write_text(json.dumps(doc))
    assert Session.open(path).track_path == track


def test_a_session_whose_track_is_gone_names_the_missing_file(session, track):
    path = session.save(track.parent / "s.json")
    track.unlink()
    with pytest.raises(SessionError, match=r"track .*Sóng 1 \(final\)\.wav is missing"):
        Session.open(path)


def test_saving_refuses_the_track_a_missing_folder_and_no_track(session, track, tmp_path):
    with pytest.raises(ExportError, match="that is the track itself"):
        session.save(track)
    assert track.read_bytes() == b"RIFF"
    with pytest.raises(ExportError, match="does not exist"):
        session.save(tmp_path / "nowhere" / "s.json")
    with pytest.raises(SessionError, match="open a track"):
        Session().save(tmp_path / "s.json")


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(session, tmp_path,
                                                                   monkeypatch):
    folder = tmp_path / "sessions"
    folder.mkdir()
    path = session.save(folder / "s.json")
    old = path.read_text()
    session.set_value("stereo.width", 0.5)

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(ExportError, match="No space left on device"):
        session.save(path)
    assert path.read_text() == old
    assert sorted(p.name for p in folder.iterdir()) == ["s.json"]
    assert session.modified


def test_autosave_and_recovery(session, tmp_path):
    folder = tmp_path / "autosave folder"
    assert Session.find_autosave(folder) is None
    session.set_value("limiter.release_ms", 60.0)
    written = session.autosave(folder)
    assert written == folder / AUTOSAVE_NAME and session.modified
    session.set_value("limiter.release_ms", 70.0)  # later edits are not in the autosave
    found = Session.find_autosave(folder)
    assert found == written
    recovered = Session.recover(found)
    assert recovered.params.values["limiter"]["release_ms"] == 60.0
    assert recovered.modified and recovered.path is None
    Session.discard_autosave(folder)
    assert Session.find_autosave(folder) is None
    Session.discard_autosave(folder)


def _valid_doc(track) -> dict:
    session = Session(track, ChainParams().replace("compressor.ratio", 3.0))
    session.set_value("eq.peak1_gain_db", 2.0)
    return session.to_json()


def _with(path, value):
    """A mutation of the valid document: set ``value`` at the dotted ``path`` (None deletes)."""
    def mutate(doc):
        *parents, last = path.split("/")
        node = doc
        for name in parents:
            node = node[name]
        if value is None:
            del node[last]
        else:
            node[last] = value
        return json.dumps(doc)
    return mutate


def _text(text):
    return lambda doc: text


SESSION_FAULTS = [
    ("json", _text('{"schema": 1,\n  "kind": }'), "not valid JSON (line 2, column 11"),
    ("nested", _text("[" * 100_000 + "]" * 100_000), "nested too deeply"),
    ("10 MB", _text(" " * 10_000_000), "too large"),
    ("binary", lambda doc: b"\xff\xfe\x00\x81garbage", "not UTF-8"),
    ("list", _text("[1, 2]"), "must be a JSON object"),
    ("params file", lambda doc: json.dumps(doc["proposal"]), "not a GreyMaster session"),
    ("kind", _with("kind", "greymaster-preset"), "\"kind\" is 'greymaster-preset'"),
    ("schema 2", _with("schema", 2), "schema 2 is not supported"),
    ("schema bool", _with("schema", True), "schema True is not supported"),
    ("unknown key", _with("colour", "red"), "unknown key 'colour' in the session"),
    ("no track", _with("track", None), "has no \"track\" entry"),
    ("track number", _with("track", 7), "\"track\" must be the path of a file, got 7"),
    ("reference list", _with("reference", ["a"]), "\"reference\" must be the path"),
    ("target list", _with("target", [-14, -1]), "\"target\" must be an object"),
    ("target key", _with("target/gain", 1), "unknown key 'gain' in \"target\""),
    ("lufs string", _with("target/lufs", "loud"), "target.lufs must be a number, got 'loud'"),
    ("lufs range", _with("target/lufs", -80), "target -80 LUFS / -1 dBTP is out of range"),
    ("NaN", lambda doc: json.dumps(doc).replace('"lufs": -14.0', '"lufs": NaN'),
     "NaN is not a number"),
    ("Infinity", lambda doc: json.dumps(doc).replace('"lufs": -14.0', '"lufs": -Infinity'),
     "-Infinity is not a number"),
    ("1e400", lambda doc: json.dumps(doc).replace('"eq.peak1_gain_db": 2.0',
                                                  '"eq.peak1_gain_db": 1e400'),
     "overrides.eq.peak1_gain_db must be a finite number, got inf"),
    ("5000 digits", lambda doc: json.dumps(doc).replace('"eq.peak1_gain_db": 2.0',
                                                        '"eq.peak1_gain_db": 1' + "0" * 5000),
     "overrides.eq.peak1_gain_db must be a finite number"),
    ("override key", _with("overrides/compressor.ratios", 2.0),
     "unknown parameter 'compressor.ratios'"),
    ("override range", _with("overrides/compressor.ratio", 40),
     "compressor.ratio = 40.0 is outside its range"),
    ("override string", _with("overrides/compressor.ratio", "4"),
     "overrides.compressor.ratio must be a number, got '4'"),
    ("override ceiling", _with(f"overrides/{CEILING_KEY}", -0.5), "is not an override"),
    ("overrides list", _with("overrides", [1]), "\"overrides\" must be an object"),
    ("enabled type", _with("enabled/eq", 1), "enabled.eq must be true or false"),
    ("enabled stage", _with("enabled/reverb", True), "enabled: unknown stage 'reverb'"),
    ("proposal range", _with("proposal/compressor/ratio", 40), "proposal: compressor.ratio = 40"),
    ("proposal type", _with("proposal", "defaults"), "proposal: params must be a JSON object"),
    ("duplicate", lambda doc: json.dumps(doc).replace('"schema": 1', '"schema": 1, "schema": 1'),
     "key 'schema' appears twice"),
]


@pytest.mark.parametrize(("make", "message"), [(m, msg) for _, m, msg in SESSION_FAULTS],
                         ids=[name for name, _, _ in SESSION_FAULTS])
def test_hostile_session_files_are_refused_with_a_message(session, track, make, message):
    content = make(_valid_doc(track))
    path = track.parent / "hostile.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    before = (session.snapshot, session.proposal, session.path)
    with pytest.raises(SessionError) as caught:
        Session.open(path)
    text = str(caught.value)
    assert message in text and str(path) in text
    assert "\n" not in text and len(text) < 400
    assert (session.snapshot, session.proposal, session.path) == before


def test_the_valid_document_of_the_fault_table_opens(track):
    path = track.parent / "valid.json"
    path.write_text(json.dumps(_valid_doc(track)))
    assert Session.open(path).overrides == {"eq.peak1_gain_db": 2.0}


@pytest.mark.parametrize(("target", "message"), [
    (None, "session file not found"),
    ("folder", "is not a file"),
])
def test_missing_and_non_file_paths_are_named(tmp_path, target, message):
    path = tmp_path / "s.json"
    if target == "folder":
        path.mkdir()
    with pytest.raises(SessionError, match=message):
        Session.open(path)


PRESET_FAULTS = [
    ("json", '{"schema": 1,\n "eq": {,}}', "not valid JSON (line 2, column 9"),
    ("nested", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("too large", " " * (MAX_FILE_BYTES + 1), "too large"),
    ("NaN", '{"schema": 1, "compressor": {"ratio": NaN}}', "NaN is not a number"),
    ("huge", '{"schema": 1, "eq": {"low_shelf_gain_db": 1' + "0" * 5000 + "}}",
     "eq.low_shelf_gain_db = inf is outside its range"),
    ("range", '{"schema": 1, "compressor": {"ratio": 40}}', "compressor.ratio = 40"),
    ("stage", '{"schema": 1, "reverb": {}}', "unknown stage 'reverb'"),
    ("string", '{"schema": 1, "eq": {"peak1_gain_db": "loud"}}',
     "eq.peak1_gain_db must be a number"),
    ("schema", '{"schema": 3}', "schema 3 is not supported"),
    ("session", '{"kind": "greymaster-session", "schema": 1}', "is a session file, not a preset"),
]


@pytest.mark.parametrize(("text", "message"), [(t, m) for _, t, m in PRESET_FAULTS],
                         ids=[name for name, _, _ in PRESET_FAULTS])
def test_hostile_presets_are_refused_and_leave_the_session_unchanged(session, tmp_path, text,
                                                                     message):
    session.set_value("stereo.width", 1.7)
    before = (session.snapshot, session.undo_text, session.modified)
    calls = []
    session.subscribe(lambda: calls.append(1))
    path = tmp_path / "preset.json"
    path.write_text(text)
    with pytest.raises(SessionError, match=message.replace("(", r"\(").replace(".", r"\.")):
        session.load_preset(path)
    assert (session.snapshot, session.undo_text, session.modified) == before and calls == []


def test_stage_resets_cover_every_stage_of_the_table(session):
    for key in EDITABLE_KEYS:
        row = spec(key)
        session.set_value(key, row.maximum if row.maximum != session.params.values[row.stage][
            row.name] else row.minimum)
    for stage in STAGES:
        session.reset_stage(stage)
        assert not any(session.is_overridden(row.key) for row in stage_specs(stage))
    assert session.overrides == {}


def test_the_proposals_latent_rides_along_with_every_edit():
    latent = tuple(float(i) / 512 for i in range(512))
    session = Session(proposal=ChainParams().with_latent(latent))
    session.set_value("residual.amount", 0.4)
    session.set_enabled("eq", False)
    assert session.params.latent == latent
    session.set_proposal(ChainParams())
    assert session.params.latent is None
