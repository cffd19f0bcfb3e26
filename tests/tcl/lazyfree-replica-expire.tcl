# valkey-rs-core (issue 4): lazyfree and writable-replica expire tracking.
#
# Keys written with a TTL directly on a writable replica are tracked in
# replicaKeysWithExpire (INFO slave_expires_tracked_keys). FLUSHALL ASYNC must
# hand both the keyspace and that tracker to the lazyfree thread, FLUSHALL
# SYNC frees them in place, and a tracker of at most 64 keys is always freed
# in place. These tests check behaviour only, so they pass on the plain C
# build and on the USE_RUST_CORE=yes build alike.
#
# `make test-tcl` installs it into build/valkey as
# tests/unit/rs-core-lazyfree-replica-expire.tcl; to run it alone on any
# Valkey 9.1 tree (C or Rust build), copy it into tests/unit/ and run
#   ./runtest --single unit/rs-core-lazyfree-replica-expire

# Writes keys $prefix:0 .. $prefix:[expr $n-1] through a pipelining client,
# each with SET ... EX $ttl (or without a TTL when $ttl is 0).
proc lfre_write_keys {level prefix n {ttl 100000}} {
    set rd [valkey_deferring_client $level]
    set batch 1000
    for {set i 0} {$i < $n} {incr i $batch} {
        set end [expr {min($i + $batch, $n)}]
        for {set j $i} {$j < $end} {incr j} {
            if {$ttl > 0} {
                $rd set "$prefix:$j" "v$j" EX $ttl
            } else {
                $rd set "$prefix:$j" "v$j"
            }
        }
        for {set j $i} {$j < $end} {incr j} {
            assert_equal OK [$rd read]
        }
    }
    $rd close
}

# Microseconds the server spent in FLUSHALL since the last CONFIG RESETSTAT.
proc lfre_flushall_usec {client} {
    set info [$client info commandstats]
    if {[regexp {cmdstat_flushall:calls=[0-9]+,usec=([0-9]+)} $info -> usec]} {
        return $usec
    }
    return 0
}

proc lfre_wait_lazyfree_idle {level} {
    wait_for_condition 500 10 {
        [s $level lazyfree_pending_objects] == 0
    } else {
        fail "lazyfree_pending_objects did not drop to 0"
    }
}

start_server {tags {"lazyfree repl external:skip needs:config-resetstat needs:debug"}} {
    set primary [srv 0 client]
    set primary_host [srv 0 host]
    set primary_port [srv 0 port]

    start_server {} {
        set replica [srv 0 client]
        set replica_host [srv 0 host]
        set replica_port [srv 0 port]
        set n 50000

        test {Writable replica: keys written with a TTL are tracked} {
            $replica replicaof $primary_host $primary_port
            wait_for_sync $replica
            wait_replica_online $primary
            $replica config set replica-read-only no

            lfre_write_keys 0 ttlkey $n
            assert_equal $n [$replica dbsize]
            assert_equal $n [s 0 slave_expires_tracked_keys]
            # Keys written without a TTL are not tracked.
            lfre_write_keys 0 plain 10 0
            assert_equal $n [s 0 slave_expires_tracked_keys]
            $replica del {*}[lmap i {0 1 2 3 4 5 6 7 8 9} {string cat plain: $i}]
        }

        test {Writable replica: FLUSHALL ASYNC hands keys and tracker to lazyfree} {
            lfre_wait_lazyfree_idle 0
            $replica config resetstat
            assert_equal 0 [s 0 lazyfreed_objects]

            assert_equal OK [$replica flushall async]
            # The tracker is detached at once, whatever the worker is doing.
            assert_equal 0 [s 0 slave_expires_tracked_keys]
            assert_equal 0 [$replica dbsize]
            set async_usec [lfre_flushall_usec $replica]

            # Once the worker is idle, it has freed every key and every
            # tracked entry.
            lfre_wait_lazyfree_idle 0
            assert_equal [expr {2 * $n}] [s 0 lazyfreed_objects]

            # The same data set flushed synchronously, for contrast: the
            # async flush must cost the main thread much less.
            lfre_write_keys 0 ttlkey $n
            assert_equal $n [s 0 slave_expires_tracked_keys]
            $replica config resetstat
            assert_equal OK [$replica flushall sync]
            set sync_usec [lfre_flushall_usec $replica]
            assert_equal 0 [s 0 slave_expires_tracked_keys]
            assert_equal 0 [s 0 lazyfreed_objects]
            assert_equal 0 [s 0 lazyfree_pending_objects]
            if {$::verbose} { puts "FLUSHALL of $n tracked keys: async ${async_usec}us, sync ${sync_usec}us" }
            if {!$::no_latency} {
                assert_lessthan $async_usec $sync_usec
            }
        }

        test {Writable replica: writes acknowledged right after FLUSHALL ASYNC survive} {
            lfre_write_keys 0 ttlkey $n
            lfre_wait_lazyfree_idle 0
            $replica config resetstat
            assert_equal OK [$replica flushall async]
            # Written while the worker may still be freeing the old data.
            lfre_write_keys 0 after 1000
            lfre_write_keys 0 afterplain 100 0
            $replica incr counter
            lfre_wait_lazyfree_idle 0
            assert_equal [expr {2 * $n}] [s 0 lazyfreed_objects]
            assert_equal 1101 [$replica dbsize]
            assert_equal 1000 [s 0 slave_expires_tracked_keys]
            for {set j 0} {$j < 1000} {incr j 97} {
                assert_equal "v$j" [$replica get "after:$j"]
                assert_range [$replica ttl "after:$j"] 1 100000
            }
            assert_equal v99 [$replica get afterplain:99]
            assert_equal 1 [$replica get counter]
        }

        test {FAILOVER to the writable replica keeps the keys written on it} {
            $replica config resetstat
            $primary failover to $replica_host $replica_port
            wait_for_condition 100 100 {
                [s -1 master_failover_state] eq "no-failover" &&
                [s 0 role] eq "master"
            } else {
                fail "FAILOVER to the replica did not complete"
            }
            assert_equal 1101 [$replica dbsize]
            assert_equal v500 [$replica get after:500]
            assert_range [$replica ttl after:500] 1 100000
            assert_equal 1 [$replica get counter]
            # As a primary it drops the tracker (databasesCron); more than 64
            # entries go to the lazyfree thread.
            wait_for_condition 100 50 {
                [s 0 slave_expires_tracked_keys] == 0
            } else {
                fail "The new primary kept its replica key tracker"
            }
            lfre_wait_lazyfree_idle 0
            assert_equal 1000 [s 0 lazyfreed_objects]
            assert_equal 1101 [$replica dbsize]
            # The old primary follows the new one.
            wait_for_condition 100 100 {
                [s -1 role] eq "slave" && [s -1 master_link_status] eq "up"
            } else {
                fail "The old primary did not follow the new one"
            }
        }
    }
}

start_server {tags {"lazyfree repl external:skip needs:config-resetstat needs:debug"}} {
    set primary [srv 0 client]
    set primary_host [srv 0 host]
    set primary_port [srv 0 port]

    start_server {overrides {databases 100}} {
        set replica [srv 0 client]

        test {Writable replica: a tracker of at most 64 keys is freed in place} {
            $replica replicaof $primary_host $primary_port
            wait_for_sync $replica
            wait_replica_online $primary
            $replica config set replica-read-only no

            # 64 tracked keys: the keyspace goes to lazyfree, the tracker not.
            lfre_write_keys 0 small 64
            assert_equal 64 [s 0 slave_expires_tracked_keys]
            $replica config resetstat
            assert_equal OK [$replica flushall async]
            assert_equal 0 [s 0 slave_expires_tracked_keys]
            lfre_wait_lazyfree_idle 0
            assert_equal 64 [s 0 lazyfreed_objects]

            # 65: both go to lazyfree.
            lfre_write_keys 0 small 65
            assert_equal 65 [s 0 slave_expires_tracked_keys]
            $replica config resetstat
            assert_equal OK [$replica flushall async]
            assert_equal 0 [s 0 slave_expires_tracked_keys]
            lfre_wait_lazyfree_idle 0
            assert_equal 130 [s 0 lazyfreed_objects]
        }

        test {Writable replica: FLUSHALL SYNC frees keys and tracker in place} {
            lfre_write_keys 0 big 5000
            assert_equal 5000 [s 0 slave_expires_tracked_keys]
            $replica config resetstat
            assert_equal OK [$replica flushall sync]
            assert_equal 0 [s 0 slave_expires_tracked_keys]
            assert_equal 0 [$replica dbsize]
            assert_equal 0 [s 0 lazyfree_pending_objects]
            assert_equal 0 [s 0 lazyfreed_objects]
        }

        test {Writable replica: keys in a DB above 63 are not tracked} {
            # One bit per DB in a 64-bit map: DB 70 is not tracked.
            $replica select 70
            $replica set k v EX 1000
            assert_equal 0 [s 0 slave_expires_tracked_keys]
            # One entry per name, whatever the number of DBs holding it.
            $replica select 9
            $replica set k v EX 1000
            $replica select 0
            $replica set k v EX 1000
            $replica select 9
            assert_equal 1 [s 0 slave_expires_tracked_keys]
            $replica flushall
            assert_equal 0 [s 0 slave_expires_tracked_keys]
        }

        test {Writable replica: DEBUG RELOAD keeps the keys and forgets the tracker} {
            lfre_write_keys 0 reload 200
            lfre_write_keys 0 reloadplain 10 0
            assert_equal 200 [s 0 slave_expires_tracked_keys]
            lfre_wait_lazyfree_idle 0
            $replica config resetstat
            $replica debug reload
            # Reloading empties the data set (lazily, replica-lazy-flush is
            # on by default: 210 keys and 200 tracked entries) and loads it
            # back from the RDB: keys and TTLs survive, nothing is tracked
            # until written again by a client.
            assert_equal 210 [$replica dbsize]
            assert_equal v7 [$replica get reload:7]
            assert_range [$replica ttl reload:7] 1 100000
            assert_equal 0 [s 0 slave_expires_tracked_keys]
            lfre_wait_lazyfree_idle 0
            assert_equal [expr {[lindex [$replica config get replica-lazy-flush] 1] eq "yes" ? 410 : 0}] \
                [s 0 lazyfreed_objects]
            lfre_write_keys 0 reload 100
            assert_equal 100 [s 0 slave_expires_tracked_keys]
        }

        test {Writable replica: CONFIG RESETSTAT resets lazyfreed_objects only} {
            lfre_write_keys 0 reset 1000
            assert_equal OK [$replica flushall async]
            lfre_wait_lazyfree_idle 0
            assert_morethan [s 0 lazyfreed_objects] 0
            $replica config resetstat
            assert_equal 0 [s 0 lazyfreed_objects]
            assert_equal 0 [s 0 lazyfree_pending_objects]
            # Counting starts again from zero.
            lfre_write_keys 0 reset 100
            assert_equal OK [$replica flushall async]
            lfre_wait_lazyfree_idle 0
            assert_equal 200 [s 0 lazyfreed_objects]
        }

        test {Writable replica: expired tracked keys are removed and forgotten} {
            $replica flushall
            $replica debug set-active-expire 1
            for {set j 0} {$j < 100} {incr j} {
                $replica set "short:$j" v PX 100
            }
            $replica set long v EX 100000
            assert_equal 101 [s 0 slave_expires_tracked_keys]
            wait_for_condition 100 50 {
                [s 0 slave_expires_tracked_keys] == 1 && [$replica dbsize] == 1
            } else {
                fail "Tracked keys were not expired on the writable replica"
            }
            assert_equal v [$replica get long]
        }
    }
}
