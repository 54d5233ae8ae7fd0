# galera-ha-lab: every target works on a fresh machine (it creates .venv on first use).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
LAB     = $(BIN)/galera-lab
SPEC   ?=
PROFILE ?=
ROOM   ?= 4
BENCH_ARGS ?=
SPEC_ARG = $(if $(SPEC),--spec $(SPEC),)$(if $(PROFILE), --profile $(PROFILE),)
# how the chaos suite's transactional clients transact and what they are held to (chaos/plugin.py --txn-*)
TXN_ISOLATION ?=
TXN_MODEL ?=
TXN_ROUTE ?=
TXN_LOCKING_READS ?=
# the test suites and the bench run on the user's topology too (lab/isolation.py)
SUITE_ENV = GALERA_LAB_SPEC=$(SPEC) GALERA_LAB_PROFILE=$(PROFILE) GALERA_LAB_TXN_ISOLATION=$(TXN_ISOLATION) \
	GALERA_LAB_TXN_MODEL=$(TXN_MODEL) GALERA_LAB_TXN_ROUTE=$(TXN_ROUTE) GALERA_LAB_TXN_LOCKING_READS=$(TXN_LOCKING_READS)

.PHONY: help venv host-deps lab-up lab-down lab-status images generate test unit e2e chaos stale-reads consistency report bench clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/galera-lab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

venv: $(BIN)/galera-lab ## create .venv and install the project

host-deps: ## install missing host tools from Debian (mmdebstrap, iproute2, nsenter) when root
	@missing=""; \
	for t in ip:iproute2 nsenter:util-linux iptables:iptables; do \
	  command -v $${t%%:*} >/dev/null 2>&1 || missing="$$missing $${t#*:}"; done; \
	command -v mmdebstrap >/dev/null 2>&1 || command -v debootstrap >/dev/null 2>&1 || missing="$$missing mmdebstrap"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; \
	  else echo "missing host tools:$$missing (install them, then run make lab-up again)"; exit 1; fi; fi

lab-up: venv host-deps ## build images if needed, start the lab, wait until healthy
	$(LAB) up $(SPEC_ARG)

lab-down: venv ## stop and remove the lab (data kept; VOLUMES=1 removes data too)
	$(LAB) down $(SPEC_ARG) $(if $(VOLUMES),--volumes,)

lab-status: venv ## health of every part
	$(LAB) status $(SPEC_ARG)

images: venv ## build missing images offline and list them
	$(LAB) images $(SPEC_ARG)

generate: venv ## render the stack folder without starting anything
	$(LAB) generate $(SPEC_ARG)

unit: venv ## fast tests, no Docker
	$(BIN)/pytest -q -m "not e2e and not chaos"

test: venv host-deps ## unit tests + the end-to-end lab test (SPEC=lab.yaml: on your topology)
	$(SUITE_ENV) $(BIN)/pytest -q -m "not chaos"

chaos: venv host-deps ## the chaos catalog against a lab of its own (SPEC=lab.yaml PROFILE=fast TXN_ISOLATION=repeatable-read)
	$(SUITE_ENV) $(BIN)/pytest -q -m chaos chaos/

stale-reads: venv ## stale reads by wsrep_sync_wait against the running lab
	$(LAB) stale-reads $(SPEC_ARG)

consistency: venv ## Jepsen's Galera findings (lost updates, stale reads, lost commits on crashes) on the running lab
	$(LAB) consistency $(SPEC_ARG)

report: venv ## Markdown + PNG report of the latest results
	$(LAB) report $(SPEC_ARG)

bench: venv ## speed, memory, routing, stale-read and failover figures per tier; a room of N labs (ROOM=4); BENCH_ARGS="--only lab": lab-up only
	$(SUITE_ENV) $(BIN)/python -m lab.bench --room-students $(ROOM) $(BENCH_ARGS)

clean: ## remove the virtual environment (labs: make lab-down VOLUMES=1)
	rm -rf $(VENV)
