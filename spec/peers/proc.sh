# spec/peers/proc.sh: process helpers shared by spec/run.sh and
# spec/peers/nginx.sh (sourced, POSIX sh).

# alive PID: exists and is not a zombie (our init may reap daemons late).
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    st=$(sed -n 's/^[0-9]* (.*) \(.\) .*/\1/p' "/proc/$1/stat" 2>/dev/null)
    [ "$st" != Z ] && [ -n "$st" ]
}

# group_alive PGID: any non-zombie process left in the process group?
group_alive() {
    command -v pgrep >/dev/null 2>&1 || return 1
    for p in $(pgrep -g "$1" 2>/dev/null); do
        alive "$p" && return 0
    done
    return 1
}
