/* The layer framework: pause on a blocking command, queue events meanwhile (DATA copied),
 * replay them in order after the reply, orphan a pending reply on destroy. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "layer/layer.h"

struct toy {
    struct mitm_layer base;
    char seen[256]; /* one letter per event handled: S D C R */
    char data[256];
    size_t n_data;
    struct mitm_cmd *hook;
};

static void toy_handle(struct mitm_layer *l, const struct mitm_event *ev)
{
    struct toy *t = (struct toy *)l;
    size_t n = strlen(t->seen);
    switch (ev->type) {
    case MITM_EV_START:
        t->seen[n] = 'S';
        t->hook = mitm_layer_hook(l, MITM_HOOK_REQUEST, (struct mitm_payload){0}); /* pauses */
        break;
    case MITM_EV_DATA:
        t->seen[n] = 'D';
        memcpy(t->data + t->n_data, ev->data.base, ev->data.len);
        t->n_data += ev->data.len;
        break;
    case MITM_EV_CLOSED:
        t->seen[n] = 'C';
        break;
    case MITM_EV_REPLY:
        t->seen[n] = 'R';
        break;
    default:
        t->seen[n] = '?';
    }
}

static void toy_destroy(struct mitm_layer *l)
{
    mitm_layer_deinit(l);
    free(l);
}

static const struct mitm_layer_vt toy_vt = {.name = "toy", .handle = toy_handle, .destroy = toy_destroy};

static struct toy *toy_new(struct mitm_ctx *ctx)
{
    struct toy *t = mitm_calloc(1, sizeof(*t));
    mitm_layer_init(&t->base, &toy_vt, ctx, NULL);
    return t;
}

Test(layer, pause_queue_and_replay_in_order)
{
    struct mitm_ctx ctx;
    mitm_ctx_init(&ctx, NULL);
    struct toy *t = toy_new(&ctx);
    struct mitm_event start = {.type = MITM_EV_START};
    mitm_layer_event(&t->base, &start);
    cr_assert_eq(t->base.paused, t->hook);

    char buf[8] = "abc";
    struct mitm_event d = {.type = MITM_EV_DATA, .conn = ctx.client, .data = mitm_slice(buf, 3)};
    mitm_layer_event(&t->base, &d);
    memcpy(buf, "XYZ", 3); /* the caller's buffer is reused: the queue must hold a copy */
    struct mitm_event d2 = {.type = MITM_EV_DATA, .conn = ctx.client, .data = mitm_slice("de", 2)};
    mitm_layer_event(&t->base, &d2);
    struct mitm_event c = {.type = MITM_EV_CLOSED, .conn = ctx.client};
    mitm_layer_event(&t->base, &c);
    cr_assert_str_eq(t->seen, "S", "nothing handled while paused");
    cr_assert_eq(ctx.queued_bytes, 5);

    struct mitm_cmd *hook = mitm_ctx_next_cmd(&ctx);
    cr_assert_eq(hook, t->hook);
    cr_assert_eq(hook->origin, &t->base);
    struct mitm_event r = {.type = MITM_EV_REPLY, .cmd = hook};
    mitm_layer_event(&t->base, &r);
    cr_assert_str_eq(t->seen, "SRDDC", "reply first, then the queue in arrival order");
    cr_assert_eq(t->n_data, 5);
    cr_assert_eq(memcmp(t->data, "abcde", 5), 0);
    cr_assert_eq(ctx.queued_bytes, 0);
    cr_assert_null(t->base.paused);
    mitm_cmd_free(hook);
    mitm_layer_destroy(&t->base);
    mitm_ctx_free(&ctx);
}

Test(layer, foreign_reply_is_queued)
{
    struct mitm_ctx ctx;
    mitm_ctx_init(&ctx, NULL);
    struct toy *t = toy_new(&ctx);
    struct mitm_event start = {.type = MITM_EV_START};
    mitm_layer_event(&t->base, &start);
    struct mitm_cmd *other = mitm_cmd_new(MITM_CMD_HOOK);
    struct mitm_event r = {.type = MITM_EV_REPLY, .cmd = other};
    mitm_layer_event(&t->base, &r);
    cr_assert_str_eq(t->seen, "S", "a reply to another command does not unpause");
    struct mitm_cmd *hook = mitm_ctx_next_cmd(&ctx);
    struct mitm_event r2 = {.type = MITM_EV_REPLY, .cmd = hook};
    mitm_layer_event(&t->base, &r2);
    cr_assert_str_eq(t->seen, "SRR");
    mitm_cmd_free(hook);
    mitm_cmd_free(other);
    mitm_layer_destroy(&t->base);
    mitm_ctx_free(&ctx);
}

Test(layer, destroy_orphans_pending_reply)
{
    struct mitm_ctx ctx;
    mitm_ctx_init(&ctx, NULL);
    struct toy *t = toy_new(&ctx);
    struct mitm_event start = {.type = MITM_EV_START};
    mitm_layer_event(&t->base, &start);
    struct mitm_event d = {.type = MITM_EV_DATA, .conn = ctx.client, .data = mitm_slice("q", 1)};
    mitm_layer_event(&t->base, &d);
    struct mitm_cmd *hook = mitm_ctx_next_cmd(&ctx);
    mitm_layer_destroy(&t->base);
    cr_assert_null(hook->origin, "the executor must not deliver to a destroyed layer");
    cr_assert_eq(ctx.queued_bytes, 0, "queued bytes released with the layer");
    mitm_cmd_free(hook);
    mitm_ctx_free(&ctx);
}

Test(layer, conn_ids_and_commands)
{
    struct mitm_ctx ctx;
    mitm_ctx_init(&ctx, NULL);
    cr_assert_eq(ctx.client->id, 1);
    struct mitm_conn *s1 = mitm_ctx_conn_new(&ctx, "example.com", 443);
    cr_assert_eq(s1->id, 2);
    cr_assert_eq(s1->state, MITM_CONN_NEW);
    struct toy *t = toy_new(&ctx);
    mitm_layer_send(&t->base, s1, "abc", 3);
    mitm_layer_send(&t->base, s1, "", 0); /* empty sends are dropped */
    mitm_layer_close(&t->base, s1, false);
    struct mitm_cmd *c = mitm_ctx_next_cmd(&ctx);
    cr_assert_eq(c->type, MITM_CMD_SEND);
    cr_assert_eq(c->len, 3);
    mitm_cmd_free(c);
    c = mitm_ctx_next_cmd(&ctx);
    cr_assert_eq(c->type, MITM_CMD_CLOSE);
    cr_assert_eq(s1->state, MITM_CONN_CLOSED);
    mitm_cmd_free(c);
    cr_assert_null(mitm_ctx_next_cmd(&ctx));
    mitm_layer_destroy(&t->base);
    mitm_ctx_free(&ctx);
}
