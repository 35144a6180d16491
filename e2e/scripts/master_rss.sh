#!/usr/bin/env bash
# Issue 4's memory target: our master against Prometheus, each scraping the same synthetic
# mesh directly (300 pods ≈ 102,600 series, every 15 s, no rules), side by side on
# 127.0.0.1 for 10 minutes. Prints both RSS every 10 s, then peak and mean of the last
# 5 minutes. QUERY=1 also asks both for count() over every series every 10 s.
#
#   cargo build --release --bin demo --bin master && e2e/scripts/master_rss.sh [pods] [seconds]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
pods=${1:-300} secs=${2:-600}
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$dir"' EXIT
cat > "$dir/scrape.yml" <<YML
global:
  scrape_interval: 15s
scrape_configs:
  - job_name: envoy
    file_sd_configs:
      - files: [$dir/targets.json]
YML
"$root/target/release/demo" workload --pods "$pods" --listen 127.0.0.1:19100 --advertise 127.0.0.1:19100 \
    --sd-file "$dir/targets.json" > "$dir/workload.log" 2>&1 &
sleep 3
"$root/target/release/master" --config.file="$dir/scrape.yml" --web.listen-address=127.0.0.1:19091 \
    --storage.tsdb.path="$dir/ours" > "$dir/ours.log" 2>&1 &
ours=$!
prometheus --config.file="$dir/scrape.yml" --web.listen-address=127.0.0.1:19092 \
    --storage.tsdb.path="$dir/prom" > "$dir/prom.log" 2>&1 &
prom=$!
rss() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
count='api/v1/query?query=count(%7Bjob%3D%22envoy%22%7D)'
for ((t = 10; t <= secs; t += 10)); do
    sleep 10
    if [ "${QUERY:-0}" = 1 ]; then
        curl -s "http://127.0.0.1:19091/$count" > /dev/null
        curl -s "http://127.0.0.1:19092/$count" > /dev/null
    fi
    echo "$t $(rss $ours) $(rss $prom)"
done | tee "$dir/rss" | awk '{printf "t=%ss cardinal %d MiB, prometheus %d MiB\n", $1, $2/1024, $3/1024}'
for port in 19091 19092; do
    echo "series on :$port: $(curl -s "http://127.0.0.1:$port/$count" | grep -o '"[0-9]*"\]' | tr -d '"]')"
done
awk -v half=$((secs / 2)) '
    { if ($2 > po) po = $2; if ($3 > pp) pp = $3 }
    $1 > half { so += $2; sp += $3; n++ }
    END { printf "peak: cardinal %d MiB, prometheus %d MiB, ratio %.2f\n", po/1024, pp/1024, po/pp
          printf "mean of the second half: cardinal %d MiB, prometheus %d MiB, ratio %.2f\n", so/n/1024, sp/n/1024, so/sp }' "$dir/rss"
