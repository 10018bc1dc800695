"""hapexpr: predict gene expression from reference and personal haplotype sequences.

The library behind the Snakemake workflow. Modules follow the stages; none imports snakemake.
"""

__version__ = "0.1.0"

import logging
import sys


def setup_logging(level: int = logging.INFO) -> None:
    """Send the library's log lines to stderr (a rule script has pointed stderr at the rule's log)."""
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        force=True)
