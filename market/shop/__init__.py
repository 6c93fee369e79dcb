"""The community shop (积分超市): its catalogue, the stock record and product photos.

``stock.move`` is the one way stock changes; ``catalogue`` is the service behind
``controllers``; ``photos`` checks and re-encodes uploaded pictures.
"""
