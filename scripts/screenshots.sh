#!/usr/bin/env bash
# Refreshes the README's screenshots (media/screenshots/) from the real-VS-Code UI scenario.
# Needs what `npm run test:e2e` needs (see .ci/run); run `npm run build` first.
set -euo pipefail
cd "$(dirname "$0")/.."
GPTLAB_E2E_PARTS=ui GPTLAB_E2E_THEMES=dark,light npm run test:e2e
mkdir -p media/screenshots
cp test/e2e/screenshots/02-train-loss-chart-dark.png media/screenshots/train-and-loss-chart.png
cp test/e2e/screenshots/03-hover-tokens-light.png media/screenshots/hover-tokens.png
cp test/e2e/screenshots/06-attention-on-source-light.png media/screenshots/attention-on-source.png
echo "screenshots: media/screenshots/ refreshed"
