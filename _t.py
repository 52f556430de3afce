import tutor, numpy as np
from tutor.interop import from_numpy
net = from_numpy([[[0.3,-0.2],[0.1,0.4]],[[0.5,-0.6],[0.2,0.7],[-0.3,0.1]]], [[0.1,-0.1],[0.05,0.0,-0.2]], x=[0.7,-1.1], y=2, activations=["tanh","log_softmax"], loss="nll")
e = tutor.explain(net); print(repr(e), e.ok)
net2 = from_numpy([[[0.3,-0.2],[0.1,0.4]],[[0.5,-0.6],[0.2,0.7],[-0.3,0.1]]], [[0.1,-0.1],[0.05,0.0,-0.2]], x=[0.7,-1.1], y=2, activations=["tanh","softmax"], loss="categorical_cross_entropy")
e2 = tutor.explain(net2)
for k in ["dE_total/dw1_11", "dE_total/dw2_31", "E_total"]:
    print(k, e.values[k], e2.values[k])
t = e.to_text(); i = t.find("out_o1"); print(t[:200])
e.to_markdown(); e.to_html(); e.to_latex()
open("/tmp/i31_look/logsm.pdf","wb").write(e.to_pdf())
from tutor.interop import to_mapping
from tutor.spec import from_mapping
d = to_mapping(net); d["examples"] = [{"inputs":[0.7,-1.1],"targets":[0,0,1]},{"inputs":[0.1,0.2],"targets":[1,0,0]}]; d["inputs"].pop("values"); d["loss"].pop("targets")
d["training"]["optimizer"] = "adam"
e3 = tutor.explain(from_mapping(d)); print(repr(e3), e3.ok)
q = tutor.quiz(net); print(q.current.label)
tutor.self_check(net)._repr_html_()
