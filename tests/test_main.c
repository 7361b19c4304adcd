/* The test runner: every suite, then greatest's report and the CI's closing line. */
#include <stdio.h>

#include <greatest.h>

SUITE_EXTERN(checklist);
SUITE_EXTERN(seed);
SUITE_EXTERN(device);
SUITE_EXTERN(ring);
SUITE_EXTERN(ring_map);
SUITE_EXTERN(render);
SUITE_EXTERN(qmp);
SUITE_EXTERN(mmio);
SUITE_EXTERN(model);
SUITE_EXTERN(model_map);
SUITE_EXTERN(model_packed);
SUITE_EXTERN(model_packed_map);
SUITE_EXTERN(race);
SUITE_EXTERN(fulldevice);
SUITE_EXTERN(fulldevice_hostile);
SUITE_EXTERN(fulldevice_hostile_map);
SUITE_EXTERN(metrics);
SUITE_EXTERN(telemetry);
SUITE_EXTERN(map);
SUITE_EXTERN(packed);
SUITE_EXTERN(packed_map);

GREATEST_MAIN_DEFS();

int main(int argc, char **argv)
{
    struct greatest_report_t report;
    GREATEST_MAIN_BEGIN();
    RUN_SUITE(checklist);
    RUN_SUITE(seed);
    RUN_SUITE(device);
    RUN_SUITE(ring);
    RUN_SUITE(ring_map);
    RUN_SUITE(render);
    RUN_SUITE(qmp);
    RUN_SUITE(mmio);
    RUN_SUITE(model);
    RUN_SUITE(model_map);
    RUN_SUITE(model_packed);
    RUN_SUITE(model_packed_map);
    RUN_SUITE(race);
    RUN_SUITE(fulldevice);
    RUN_SUITE(fulldevice_hostile);
    RUN_SUITE(fulldevice_hostile_map);
    RUN_SUITE(metrics);
    RUN_SUITE(telemetry);
    RUN_SUITE(map);
    RUN_SUITE(packed);
    RUN_SUITE(packed_map);
    GREATEST_PRINT_REPORT();
    greatest_get_report(&report);
    if (!(greatest_info.flags & GREATEST_FLAG_LIST_ONLY))
        printf("%u passed, %u failed, %u skipped\n", report.passed, report.failed, report.skipped);
    return greatest_all_passed() ? 0 : 1;
}
