"""Job logs hold plain lines (issue 14, item 6): setup_logging, which every rule script calls, turns off the
Hugging Face progress bars (tqdm redraws with `\r`) whether transformers was imported before it or after."""

import subprocess
import sys

from conftest import ROOT

CHECK = """
import sys
sys.path.insert(0, {scripts!r})
{before}
from hapexpr import setup_logging
setup_logging()
import huggingface_hub.utils
from transformers.utils import logging
print(huggingface_hub.utils.are_progress_bars_disabled(), logging.is_progress_bar_enabled())
"""


def test_setup_logging_turns_off_hugging_face_progress_bars():
    for before in ("", "import transformers, huggingface_hub"):
        code = CHECK.format(scripts=str(ROOT / "workflow" / "scripts"), before=before)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={"PATH": "/usr/bin:/bin"}).stdout.split()
        assert out == ["True", "False"], (before, out)
