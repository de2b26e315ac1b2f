/* gnet_dist: parse the command line, then train, evaluate or print shapes. */
#include <stdio.h>
#include <string.h>

#include "train/cli.h"
#include "train/trainer.h"

int main(int argc, char **argv)
{
    gnet_options o;
    int rc = gnet_cli_parse(argc, argv, &o);
    if (rc == 1)
        return 0;
    if (rc)
        return rc;
    if (o.print_shapes)
        return gnet_print_shapes(&o);
    if (o.eval_path)
        return gnet_eval(&o);
    /* The command line, recorded in the checkpoint's metadata. */
    char command_line[1024] = "";
    for (int i = 0; i < argc; i++) {
        size_t used = strlen(command_line);
        snprintf(command_line + used, sizeof command_line - used, "%s%s", i ? " " : "", argv[i]);
    }
    return gnet_train(&o, command_line);
}
