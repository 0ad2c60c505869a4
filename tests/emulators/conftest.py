"""Starts an emulator as a real process on a free loopback port, with its own temporary data dir."""

import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


class Emulator:
    def __init__(self, script, data_dir, args):
        self.data_dir = data_dir
        self.log = open(os.path.join(data_dir, "..", os.path.basename(script) + ".log"), "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-u", os.path.join(HERE, script), "0", data_dir, *args],
            stdout=subprocess.PIPE,
            stderr=self.log,
            cwd=HERE,
        )
        line = self.proc.stdout.readline().decode()
        match = re.fullmatch(r"ready on http://127\.0\.0\.1:(\d+)\n", line)
        if not match:
            self.stop()
            raise RuntimeError(f"{script} did not start: {line!r}")
        self.port = int(match.group(1))
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


@pytest.fixture(scope="module")
def start_emulator(tmp_path_factory):
    started = []

    def start(script, *args):
        base = tmp_path_factory.mktemp(script.replace(".py", ""))
        data = base / "data"
        data.mkdir()
        emulator = Emulator(script, str(data), list(args))
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()
