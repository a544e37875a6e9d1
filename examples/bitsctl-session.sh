#!/bin/sh
# bitsctl-session.sh URL DIR: the bitsctl commands the README shows, run by the tests.
set -eu
url=$1 dir=$2

# One shot: download now (foreground) with a progress bar; completes the job when done.
bitsctl transfer "$url" "$dir/now.bin"

# Step by step, in the background at low priority:
job=$(bitsctl create "nightly mirror")            # prints the job's GUID
bitsctl add-file "$job" "$url" "$dir/later.bin"
bitsctl set "$job" Priority low
bitsctl resume "nightly mirror"                   # jobs can be named by display name too
bitsctl list
bitsctl wait "$job"                               # follows the job's signals; exit 1 on error
bitsctl info --json "$job" > "$dir/info.json"
bitsctl complete "$job"                           # later.bin appears now
