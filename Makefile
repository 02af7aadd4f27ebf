# The two set-up commands of the README: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: test lint typecheck unit docs demo chaos clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict m5c_async

unit: $(STAMP)
	$(BIN)/python -m pytest --cov=m5c_async --cov-branch --cov-report=
	$(BIN)/python -m coverage report --include='m5c_async/protocol/*' --fail-under=95

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

test: lint typecheck unit docs

# The reliability run: the full fault matrix, the kill-and-resume proof with 20 SIGKILLs, and the
# journal's faults (two processes on one journal, a full disk, a power cut), rows in the same table.
JOURNAL_CHAOS := tests/journal/test_ownership.py::test_a_second_process_is_refused_while_the_owner_runs \
	tests/journal/test_faults.py::test_a_campaign_stops_cleanly_on_a_full_disk_and_resumes_after \
	tests/journal/test_power_cut.py::test_full_keeps_every_acknowledged_write_through_a_power_cut
chaos: $(STAMP)
	M5C_CHAOS=1 $(BIN)/python -m pytest -q -s tests/reliability/test_fault_matrix.py
	M5C_KILLS=20 $(BIN)/python -m pytest -q -s tests/journal/test_kill_resume.py
	M5C_CHAOS=1 $(BIN)/python -m pytest -q -s tests/reliability/test_chaos_redis.py
	M5C_CHAOS=1 $(BIN)/python -m pytest -q -s $(JOURNAL_CHAOS)

demo: $(STAMP)
	$(BIN)/m5c demo --out demo-output

clean:
	rm -rf $(VENV) .coverage .mypy_cache .ruff_cache .pytest_cache site demo-output
