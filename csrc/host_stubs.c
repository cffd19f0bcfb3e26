/* Stand-ins for the accessors of csrc/valkey_shims.c, compiled instead of
 * them when the library is built without a Valkey tree (VALKEY_SRC_DIR
 * unset: plain `cargo build` / `cargo test` on a fresh clone). They keep the
 * library self-contained for the dict's C tests; nothing calls them unless
 * lazyfree or replica-expire code runs, which needs a server built with
 * USE_RUST_CORE=yes (whose Makefile always passes VALKEY_SRC_DIR).
 * Generated list: keep in sync with valkey_shims.c (build.rs checks it). */
#include <stdio.h>
#include <stdlib.h>

static void vkrs_stub_called(const char *name) {
    fprintf(stderr,
            "valkey-rs-core: %s called, but the library was built without VALKEY_SRC_DIR "
            "(no Valkey server accessors); rebuild it through Valkey's Makefile with USE_RUST_CORE=yes\n",
            name);
    abort();
}

#define VKRS_STUB(name) \
    void name(void);    \
    void name(void) { vkrs_stub_called(#name); }

VKRS_STUB(vkrs_obj_type)
VKRS_STUB(vkrs_obj_encoding)
VKRS_STUB(vkrs_obj_refcount)
VKRS_STUB(vkrs_obj_val)
VKRS_STUB(vkrs_decr_ref_count)
VKRS_STUB(vkrs_quicklist_len)
VKRS_STUB(vkrs_hashtable_size)
VKRS_STUB(vkrs_zset_length)
VKRS_STUB(vkrs_stream_rax_nodes)
VKRS_STUB(vkrs_stream_cgroups)
VKRS_STUB(vkrs_stream_first_group_pel)
VKRS_STUB(vkrs_module_free_effort)
VKRS_STUB(vkrs_cluster_enabled)
VKRS_STUB(vkrs_db_keys_slot)
VKRS_STUB(vkrs_db_expires_slot)
VKRS_STUB(vkrs_db_volatile_items_slot)
VKRS_STUB(vkrs_kvstore_create_keys)
VKRS_STUB(vkrs_kvstore_create_expires)
VKRS_STUB(vkrs_kvstore_size)
VKRS_STUB(vkrs_kvstore_release)
VKRS_STUB(vkrs_rax_numele)
VKRS_STUB(vkrs_rax_numnodes)
VKRS_STUB(vkrs_free_tracking_rax)
VKRS_STUB(vkrs_free_errors_rax)
VKRS_STUB(vkrs_rax_free)
VKRS_STUB(vkrs_list_length)
VKRS_STUB(vkrs_list_release)
VKRS_STUB(vkrs_dict_size)
VKRS_STUB(vkrs_dict_release)
VKRS_STUB(vkrs_free_eval_scripts)
VKRS_STUB(vkrs_functions_len)
VKRS_STUB(vkrs_functions_free)
VKRS_STUB(vkrs_thread_create)
VKRS_STUB(vkrs_bio_thread_init)
VKRS_STUB(vkrs_log_warning)
VKRS_STUB(vkrs_replica_keys_dict_create)
VKRS_STUB(vkrs_dict_add_or_find)
VKRS_STUB(vkrs_dict_get_key)
VKRS_STUB(vkrs_dict_set_key)
VKRS_STUB(vkrs_dict_get_u64)
VKRS_STUB(vkrs_dict_set_u64)
VKRS_STUB(vkrs_dict_random_key)
VKRS_STUB(vkrs_dict_delete)
VKRS_STUB(vkrs_sdsdup)
VKRS_STUB(vkrs_db_id)
VKRS_STUB(vkrs_server_dbnum)
VKRS_STUB(vkrs_server_db)
VKRS_STUB(vkrs_kvstore_index_for_key)
VKRS_STUB(vkrs_db_find_expire)
VKRS_STUB(vkrs_try_expire)
VKRS_STUB(vkrs_post_execution_unit_operations)
VKRS_STUB(vkrs_mstime)
