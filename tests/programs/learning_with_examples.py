"""Learning PyTorch with examples: fit y = sin(x) with a third-order polynomial, five ways.

1. tensors and hand-written gradients, 2. autograd with `torch.no_grad()` updates, 3. the old
`.data` idiom, 4. a custom `autograd.Function` (the Legendre polynomial P3), 5. `nn` with an
optimizer, and a custom `nn.Module`; then the "Extending PyTorch" note's custom Functions
(needs_input_grad, an optional input, PyTorch 2's setup_context) checked with gradcheck. The
starting weights are fixed numbers, so every loss is deterministic and equals PyTorch's.
"""
import math

import shendu as torch

dtype = torch.float
device = torch.device("cpu")
START = (0.1, -0.2, 0.3, -0.05)


def points():
    x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
    return x, torch.sin(x)


def manual_gradients(steps=500, learning_rate=1e-6):
    x, y = points()
    a, b, c, d = (torch.tensor(v, device=device, dtype=dtype) for v in START)
    losses = []
    for _t in range(steps):
        y_pred = a + b * x + c * x**2 + d * x**3
        loss = (y_pred - y).pow(2).sum().item()
        losses.append(loss)
        grad_y_pred = 2.0 * (y_pred - y)
        grad_a = grad_y_pred.sum()
        grad_b = (grad_y_pred * x).sum()
        grad_c = (grad_y_pred * x**2).sum()
        grad_d = (grad_y_pred * x**3).sum()
        a -= learning_rate * grad_a
        b -= learning_rate * grad_b
        c -= learning_rate * grad_c
        d -= learning_rate * grad_d
    return losses, [a.item(), b.item(), c.item(), d.item()]


def with_autograd(steps=500, learning_rate=1e-6):
    x, y = points()
    a, b, c, d = (torch.tensor(v, dtype=dtype, requires_grad=True) for v in START)
    losses = []
    for _t in range(steps):
        y_pred = a + b * x + c * x**2 + d * x**3
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    return losses, [a.item(), b.item(), c.item(), d.item()]


def with_data_attribute(steps=500, learning_rate=1e-6):
    """The pre-0.4 idiom many older tutorials still use: update `.data`, zero `.grad.data`."""
    x, y = points()
    w = torch.tensor(START, dtype=dtype, requires_grad=True)
    xx = torch.stack([torch.ones_like(x), x, x**2, x**3], dim=1)
    losses = []
    for _t in range(steps):
        loss = (xx.mm(w.view(4, 1)).view(-1) - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        w.data -= learning_rate * w.grad.data
        w.grad.data.zero_()
    return losses, w.data.tolist()


class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input**3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input**2 - 1)


def with_custom_function(steps=500, learning_rate=5e-6):
    x, y = points()
    a = torch.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
    b = torch.full((), -1.0, device=device, dtype=dtype, requires_grad=True)
    c = torch.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
    d = torch.full((), 0.3, device=device, dtype=dtype, requires_grad=True)
    losses = []
    for _t in range(steps):
        P3 = LegendrePolynomial3.apply
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            for p in (a, b, c, d):
                p -= learning_rate * p.grad
                p.grad = None
    return losses, [a.item(), b.item(), c.item(), d.item()]


def with_nn(steps=500, learning_rate=1e-6):
    x, y = points()
    p = torch.tensor([1, 2, 3])
    xx = x.unsqueeze(-1).pow(p)
    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([START[1:]]))
        model[0].bias.fill_(START[0])
    loss_fn = torch.nn.MSELoss(reduction="sum")
    losses = []
    for _t in range(steps):
        y_pred = model(xx)
        loss = loss_fn(y_pred, y)
        losses.append(loss.item())
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for param in model.parameters():
                param -= learning_rate * param.grad
    linear_layer = model[0]
    return losses, [linear_layer.bias.item()] + [linear_layer.weight[:, i].item() for i in range(3)]


class Polynomial3(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(START[0]))
        self.b = torch.nn.Parameter(torch.tensor(START[1]))
        self.c = torch.nn.Parameter(torch.tensor(START[2]))
        self.d = torch.nn.Parameter(torch.tensor(START[3]))

    def forward(self, x):
        return self.a + self.b * x + self.c * x**2 + self.d * x**3

    def string(self):
        return f"y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + {self.d.item()} x^3"


def with_optim(steps=500):
    x, y = points()
    results = {}
    for name in ("SGD", "RMSprop"):
        model = Polynomial3()
        criterion = torch.nn.MSELoss(reduction="sum")
        if name == "SGD":
            optimizer = torch.optim.SGD(model.parameters(), lr=1e-6, momentum=0.9)
        else:
            optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
        losses = []
        for _t in range(steps):
            y_pred = model(x)
            loss = criterion(y_pred, y)
            losses.append(loss.item())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        results[name] = (losses, [p.item() for p in model.parameters()], model.string().startswith("y = "))
    return results


class LinearFunction(torch.autograd.Function):
    """The "Extending PyTorch" note's linear function: needs_input_grad, an optional bias."""

    @staticmethod
    def forward(ctx, input, weight, bias=None):
        ctx.save_for_backward(input, weight, bias)
        output = input.mm(weight.t())
        if bias is not None:
            output += bias.unsqueeze(0).expand_as(output)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        input, weight, bias = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output.mm(weight)
        if ctx.needs_input_grad[1]:
            grad_weight = grad_output.t().mm(input)
        if bias is not None and ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias


class MulConstant(torch.autograd.Function):
    """PyTorch 2's style: forward without ctx, setup_context saves what backward needs."""

    @staticmethod
    def forward(tensor, constant):
        return tensor * constant

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, constant = inputs
        ctx.constant = constant

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * ctx.constant, None  # no gradient for the Python number


class MyLinear(torch.nn.Module):
    def __init__(self, input_features, output_features, bias=True):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.linspace(-0.1, 0.1, output_features * input_features)
                                         .view(output_features, input_features))
        if bias:
            self.bias = torch.nn.Parameter(torch.full((output_features,), 0.05))
        else:
            self.register_parameter("bias", None)

    def forward(self, input):
        return LinearFunction.apply(input, self.weight, self.bias)

    def extra_repr(self):
        out_features, in_features = self.weight.shape
        return f"input_features={in_features}, output_features={out_features}, bias={self.bias is not None}"


def extending_autograd():
    x = torch.linspace(-1, 1, 12, dtype=torch.double).view(4, 3).requires_grad_()
    w = torch.linspace(0.5, -0.5, 6, dtype=torch.double).view(2, 3).requires_grad_()
    b = torch.tensor([0.1, -0.1], dtype=torch.double, requires_grad=True)
    checks = [
        torch.autograd.gradcheck(LinearFunction.apply, (x, w, b), eps=1e-6, atol=1e-4),
        torch.autograd.gradcheck(LinearFunction.apply, (x, w), eps=1e-6, atol=1e-4),
        torch.autograd.gradcheck(LegendrePolynomial3.apply, (x,), eps=1e-6, atol=1e-4),
        torch.autograd.gradcheck(lambda t: MulConstant.apply(t, 2.5), (x,), eps=1e-6, atol=1e-4),
    ]
    layer = MyLinear(3, 2)
    inp = torch.linspace(-1, 1, 12).view(4, 3)
    out = layer(inp)
    out.backward(torch.ones_like(out))
    return {"gradchecks": checks, "out": out.tolist(), "weight_grad": layer.weight.grad.tolist(),
            "bias_grad": layer.bias.grad.tolist(), "repr": repr(layer),
            "no_bias": MyLinear(3, 2, bias=False)(inp).tolist()}


def main():
    return {
        "extending": extending_autograd(),
        "manual": manual_gradients(),
        "autograd": with_autograd(),
        "data_attribute": with_data_attribute(),
        "custom_function": with_custom_function(),
        "nn": with_nn(),
        "optim": with_optim(),
    }


if __name__ == "__main__":
    for name, result in main().items():
        print(name, result[0][-1] if isinstance(result, tuple) else {k: v[0][-1] for k, v in result.items()})
