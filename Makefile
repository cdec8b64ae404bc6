# prunelab: `make demo` runs the main job, `make test` the tests. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.prunelab-installed
DEMO_OUT ?= demo-out

.PHONY: setup data demo test e2e clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@bash scripts/ensure-venv.sh $(PYTHON) $(VENV)
	# torch and torchvision first, at the tested versions of constraints.txt (pip takes them from the
	# local cache where there is one), then prunelab with the same constraints
	$(PY) -m pip install -q -c constraints.txt torch torchvision
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	@touch $(STAMP)

data:
	@bash scripts/ensure-fashion-mnist.sh

demo: $(STAMP) data
	$(VENV)/bin/prunelab demo --out $(DEMO_OUT)

test: $(STAMP) data
	$(PY) -m pytest -q --durations=15

# the longer small-scale experiments behind docs/results.md (every method family: a few hours on 2 cores)
e2e: $(STAMP) data
	for f in experiments/small/*.yaml; do case $$f in */judge-*|*/guided-*|*/leaderboard-*|*/vit-*) continue;; esac; \
		$(VENV)/bin/prunelab run $$f --store runs-e2e || exit 1; done
	# guided pruning needs the pattern of slimming's architectures (search-fashion.yaml, 70% pruned)
	$(VENV)/bin/prunelab pattern runs-e2e/pruned/slimming-s*.pt --base vgg11 --width 0.25 --dataset fashion-mnist \
		--where lam=0.02 --where target=0.7 --out runs-e2e/patterns/vgg11-fashion-slim0.7.json
	for f in experiments/small/guided-*.yaml; do $(VENV)/bin/prunelab run $$f --store runs-e2e || exit 1; done
	$(VENV)/bin/prunelab report runs-e2e --plot runs-e2e/report.png | tee runs-e2e/report.md
	cd examples && PYTHONPATH=. ../$(VENV)/bin/prunelab judge ../experiments/small/judge-fashion.yaml --method max_norm:MaxNorm \
		--store ../runs-e2e --out ../runs-e2e/judge-maxnorm | tee ../runs-e2e/judge-maxnorm.md
	$(VENV)/bin/prunelab leaderboard experiments/small/leaderboard-fashion.yaml --store runs-e2e --out runs-e2e/leaderboard
	$(VENV)/bin/prunelab judge experiments/small/vit-fashion.yaml --store runs-e2e | tee runs-e2e/judge-vit.md

clean:
	rm -rf $(VENV) $(DEMO_OUT) runs runs-e2e .pytest_cache
