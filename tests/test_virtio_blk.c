#include "harness.h"
HARNESS_MAIN()
