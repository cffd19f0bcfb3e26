# Sourced by bench/server_profile.sh and bench/flush_profile.sh: reading a
# running server's INFO with the C build's valkey-cli.

# info_field CLI PORT SECTION FIELD: the field's value, or nothing.
info_field() {
    "$1" -p "$2" info "$3" 2>/dev/null | tr -d '\r' | sed -n "s/^$4://p"
}

# wait_lazyfree_idle CLI PORT: until lazyfree_pending_objects is 0 (polls
# every 0.2 s, at most 120 s); returns 1 if it never got there.
wait_lazyfree_idle() {
    local i
    for i in $(seq 600); do
        [ "$(info_field "$1" "$2" memory lazyfree_pending_objects)" = 0 ] && return 0
        sleep 0.2
    done
    return 1
}
