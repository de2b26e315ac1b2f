#include "core/fifo.h"

void gnet_fifo_init(gnet_fifo *f, int cap) { *f = (gnet_fifo){.cap = cap}; }

int gnet_fifo_push(gnet_fifo *f)
{
    if (f->count >= f->cap)
        return -1;
    return (f->head + f->count++) % f->cap;
}

int gnet_fifo_pop(gnet_fifo *f)
{
    if (f->count == 0)
        return -1;
    int slot = f->head;
    f->head = (f->head + 1) % f->cap;
    f->count--;
    return slot;
}
