"""Reading and writing audio: formats, errors for bad files, dither, atomic writes."""

import os
import stat

import numpy as np
import pytest
import soundfile as sf

from model import audio_io
from model.errors import AudioFileError, ExportError
from tests.signals import sine


@pytest.mark.parametrize(("fmt", "subtype"), [("WAV", "PCM_16"), ("FLAC", "PCM_24"),
                                              ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III"),
                                              ("AIFF", "PCM_24")])
def test_reads_every_supported_container(tmp_path, fmt, subtype):
    x = sine(440, 0.5, 44100, -6.0)
    path = tmp_path / f"in.{fmt.lower()}"
    sf.write(path, x.T, 44100, format=fmt, subtype=subtype)
    track = audio_io.load(path)
    assert track.channels == 2 and track.sample_rate_hz == 44100
    assert track.audio.dtype == np.float32
    assert abs(track.audio.shape[1] - x.shape[1]) <= 2000  # MP3 adds decoder padding


@pytest.mark.parametrize(("content", "message"), [
    (b"", "cannot decode"),
    (b"this is not audio at all\n" * 10, "cannot decode"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "cannot decode"),
])
def test_bad_files_raise_plain_errors(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioFileError, match=message):
        audio_io.load(path)


def test_missing_folder_and_unreadable_inputs(tmp_path):
    with pytest.raises(AudioFileError, match="not found"):
        audio_io.load(tmp_path / "nope.wav")
    with pytest.raises(AudioFileError, match="is a folder"):
        audio_io.load(tmp_path)


def test_zero_length_many_channels_and_nan_are_refused(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 2)), 44100)
    with pytest.raises(AudioFileError, match="no audio samples"):
        audio_io.load(empty)
    surround = tmp_path / "six.wav"
    sf.write(surround, np.zeros((100, 6)), 44100)
    with pytest.raises(AudioFileError, match="6 channels"):
        audio_io.load(surround)
    broken = tmp_path / "nan.wav"
    data = np.zeros((100, 2), np.float32)
    data[5, 0] = np.nan
    sf.write(broken, data, 44100, subtype="FLOAT")
    with pytest.raises(AudioFileError, match="NaN"):
        audio_io.load(broken)


def test_format_follows_extension_and_mismatch_is_an_error():
    assert audio_io.format_for("a.wav", None).name == "wav24"
    assert audio_io.format_for("a.FLAC", None).name == "flac24"
    assert audio_io.format_for("a.wav", "wav16").bits == 16
    with pytest.raises(ExportError, match="does not match --format flac24"):
        audio_io.format_for("a.wav", "flac24")
    with pytest.raises(ExportError, match="cannot tell the output format"):
        audio_io.format_for("a.mp3", None)


def test_tpdf_quantiser_is_unbiased_with_the_textbook_error_variance():
    # TPDF dither of ±1 LSB makes the rounding error independent of the signal: zero mean and
    # variance 1/6 (dither) + 1/12 (rounding) = 1/4 LSB², whatever the input level.
    for level_lsb in (0.0, 0.25, 0.5, -0.3):
        x = np.full((1, 400000), level_lsb / 2 ** 15, np.float32)
        q = audio_io.quantise(x, 16)[:, 0].astype(np.float64) / 2 ** 16
        error = q - level_lsb
        assert np.mean(error) == pytest.approx(0.0, abs=0.005)
        assert np.var(error) == pytest.approx(0.25, rel=0.02)
        assert np.max(np.abs(error)) <= 1.5
    silence = audio_io.quantise(np.zeros((1, 400000), np.float32), 24)[:, 0] // 2 ** 8
    assert np.mean(silence == 0) == pytest.approx(0.75, abs=0.01)


def test_quantiser_clips_and_interleaves():
    x = np.array([[2.0, -2.0, 0.5], [0.0, 0.0, -0.5]], np.float32)
    q = audio_io.quantise(x, 16)
    assert q.shape == (3, 2)
    assert q[0, 0] >> 16 == 32767 and q[1, 0] >> 16 == -32768
    assert abs((q[2, 0] >> 16) - 16384) <= 1 and abs((q[2, 1] >> 16) + 16384) <= 1


@pytest.mark.parametrize("name", ["wav16", "wav24", "wav32f", "flac24"])
def test_write_round_trips_within_the_format_resolution(tmp_path, name):
    fmt = audio_io.FORMATS[name]
    x = sine(1000, 0.2, 48000, -3.0)
    out = audio_io.write(x, 48000, tmp_path / f"o{fmt.extensions[0]}", fmt)
    back = audio_io.load(out)
    assert back.sample_rate_hz == 48000
    tolerance = 1e-7 if fmt.bits is None else 2.0 * 2.0 ** (1 - fmt.bits)
    assert np.max(np.abs(back.audio - x)) <= tolerance
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_write_refuses_the_input_and_missing_or_readonly_folders(tmp_path):
    fmt = audio_io.FORMATS["wav16"]
    x = sine(1000, 0.1, 44100)
    source = tmp_path / "in.wav"
    sf.write(source, x.T, 44100)
    before = source.read_bytes()
    with pytest.raises(ExportError, match="refusing to overwrite the input"):
        audio_io.write(x, 44100, tmp_path / "." / "in.wav", fmt, input_path=source)
    link = tmp_path / "link.wav"
    os.link(source, link)
    with pytest.raises(ExportError, match="refusing to overwrite the input"):
        audio_io.write(x, 44100, link, fmt, input_path=source)
    assert source.read_bytes() == before
    with pytest.raises(ExportError, match="folder does not exist"):
        audio_io.write(x, 44100, tmp_path / "missing" / "o.wav", fmt)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(ExportError, match="not writable"):
            audio_io.write(x, 44100, locked / "o.wav", fmt)
    finally:
        locked.chmod(stat.S_IRWXU)


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audio_io.sf.SoundFile, "write", full_disk)
    with pytest.raises(ExportError, match="No space left"):
        audio_io.write(sine(1000, 0.1, 44100), 44100, tmp_path / "o.wav",
                       audio_io.FORMATS["wav24"])
    assert list(tmp_path.iterdir()) == []


def test_resample_keeps_a_tone_and_changes_the_length():
    x = sine(1000, 1.0, 44100, -6.0)
    y = audio_io.resample(x, 44100, 48000)
    assert y.shape == (2, 48000)
    spectrum = np.abs(np.fft.rfft(y[0] * np.hanning(y.shape[1])))
    assert np.argmax(spectrum) == pytest.approx(1000, abs=1)
    with pytest.raises(AudioFileError, match="not supported"):
        audio_io.resample(x, 44100, 400000)


def test_written_files_get_ordinary_permissions(tmp_path):
    out = audio_io.write(sine(1000, 0.1, 44100), 44100, tmp_path / "o.wav",
                         audio_io.FORMATS["wav16"])
    assert stat.S_IMODE(out.stat().st_mode) == audio_io.new_file_mode()
    assert out.stat().st_mode & stat.S_IROTH


def test_stream_writer_commits_whole_files_and_leaves_nothing_when_interrupted(tmp_path):
    fmt = audio_io.FORMATS["flac24"]
    x = sine(440, 1.0, 44100, -6.0)
    with audio_io.StreamWriter(tmp_path / "o.flac", 44100, 2, fmt) as writer:
        for start in range(0, x.shape[1], 10000):
            writer.write(x[:, start:start + 10000])
        out = writer.commit()
    back = audio_io.load(out)
    assert np.max(np.abs(back.audio - x)) <= 2.0 * 2.0 ** -23
    with pytest.raises(RuntimeError, match="cancelled"), \
            audio_io.StreamWriter(tmp_path / "p.flac", 44100, 2, fmt) as writer:
        writer.write(x)
        raise RuntimeError("cancelled")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.flac"]


def test_open_blocks_reads_what_load_reads_and_refuses_bad_files(tmp_path):
    path = tmp_path / "in.wav"
    x = sine(440, 1.0, 48000, -6.0, channels=1)
    sf.write(path, x.T, 48000, subtype="FLOAT")
    rate, channels, blocks = audio_io.open_blocks(path, 4096)
    assert (rate, channels) == (48000, 1)
    np.testing.assert_array_equal(np.concatenate(list(blocks), axis=1), audio_io.load(path).audio)
    text = tmp_path / "text.wav"
    text.write_text("hello")
    with pytest.raises(AudioFileError, match="cannot decode"):
        audio_io.open_blocks(text, 4096)
    data = np.zeros((1000, 2), np.float32)
    data[700, 1] = np.inf
    broken = tmp_path / "inf.wav"
    sf.write(broken, data, 44100, subtype="FLOAT")
    with pytest.raises(AudioFileError, match="NaN or infinite"):
        list(audio_io.open_blocks(broken, 256)[2])


def _wav_bytes(tmp_path, frames: int = 4410) -> bytes:
    path = tmp_path / "whole.wav"
    sf.write(path, np.full((frames, 2), 0.25), 44100, subtype="PCM_16")
    return path.read_bytes()


def test_a_truncated_wav_is_refused_with_what_is_missing(tmp_path):
    whole = _wav_bytes(tmp_path)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(AudioFileError, match="truncated: its header promises 17640 bytes"):
        audio_io.load(cut)
    with pytest.raises(AudioFileError, match="truncated"):
        audio_io.open_blocks(cut, 1024)


def test_chunks_before_the_data_are_walked_over(tmp_path):
    whole = _wav_bytes(tmp_path)
    data = whole.index(b"data")
    extra = b"LIST" + (5).to_bytes(4, "little") + b"INFOx" + b"\x00"
    riff_size = int.from_bytes(whole[4:8], "little") + len(extra)
    edited = whole[:4] + riff_size.to_bytes(4, "little") + whole[8:data] + extra + whole[data:]
    path = tmp_path / "listed.wav"
    path.write_bytes(edited)
    assert audio_io.load(path).audio.shape == (2, 4410)
    cut = tmp_path / "listed-cut.wav"
    cut.write_bytes(edited[:-100])
    with pytest.raises(AudioFileError, match="truncated"):
        audio_io.load(cut)
