"""hapexpr: predict gene expression from reference and personal haplotype sequences.

The library behind the Snakemake workflow. Modules follow the stages; none imports snakemake.
"""

__version__ = "0.1.0"

import logging
import os
import sys


def setup_logging(level: int = logging.INFO) -> None:
    """Send the library's log lines to stderr (a rule script has pointed stderr at the rule's log), and turn off the
    Hugging Face progress bars, whose `\r` redraws fill a log file: the library logs its progress in plain lines."""
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        force=True)
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # read by huggingface_hub (and so transformers) when imported
    if "huggingface_hub" in sys.modules:
        sys.modules["huggingface_hub"].utils.disable_progress_bars()
    if "transformers" in sys.modules:
        sys.modules["transformers"].utils.logging.disable_progress_bar()
