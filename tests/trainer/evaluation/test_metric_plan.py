"""trainer.evaluation.metric_plan: which metrics apply, and what --metrics names."""

import pytest

from trainer.evaluation import metric_plan


def test_shape_motion_group_names_the_scores_that_need_no_download():
    names = metric_plan.parse("shape_motion")
    assert names[0] == "fd_shapes" and set(metric_plan.SHAPE_SCORES) <= set(names)
    assert "fvd" not in names and "fid" not in names
    assert metric_plan.parse("fvd,shape_motion")[0] == "fvd"
    assert metric_plan.parse("all") == ()
    assert metric_plan.parse("diagnostics") == metric_plan.SHAPE_SCORES and metric_plan.DEFAULT == ("fvd",)
    with pytest.raises(ValueError, match="shape_motion"):
        metric_plan.parse("psnr")


def test_plan_leaves_shape_scores_out_off_shape_motion_data():
    plan = metric_plan.plan(metric_plan.parse("shape_motion"), shape_motion=False)
    assert plan.compute == () and set(plan.left_out) == set(metric_plan.parse("shape_motion"))
    assert metric_plan.plan((), shape_motion=True).compute == metric_plan.ALL
